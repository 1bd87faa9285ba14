// SWIG interface of libcorral_testing_jni: the in-process LocalCluster
// (corral/binding/cluster.h), for io.corral.testing.internal.
%module CorralTestingNative

%{
#include <jni.h>
#include "corral/binding/cluster.h"

namespace corral::java {
// Cluster with the master's state as a byte[] (null when not running).
class NativeCluster : public binding::Cluster {
 public:
  jbyteArray stateBytes(JNIEnv* env) {
    std::string out;
    if (!State(&out).ok()) return nullptr;
    jbyteArray array = env->NewByteArray(static_cast<jsize>(out.size()));
    if (array != nullptr) {
      env->SetByteArrayRegion(array, 0, static_cast<jsize>(out.size()), reinterpret_cast<const jbyte*>(out.data()));
    }
    return array;
  }
  // AddAgent's index, or -1 with the error in `lastError`.
  int addAgent(const std::string& resources) {
    int index = -1;
    binding::Result r = AddAgent(resources, &index);
    last_error = r.message;
    return r.ok() ? index : -1;
  }
  std::string last_error;
};
}  // namespace corral::java
%}

%include "std_string.i"
%typemap(javafinalize) SWIGTYPE ""
%typemap(in, numinputs=0) JNIEnv* env "$1 = jenv;"

namespace corral::binding {
struct Result {
  int code;
  std::string message;
};
struct ClusterOptions {
  int agents;
  std::string resources;
  std::string work_dir;
  bool keep_work_dir;
  std::string launcher_dir;
  bool cgroups;
  double offer_timeout;
  double allocation_interval;
  double agent_ping_timeout;
  int max_agent_ping_timeouts;
  std::string log_level;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  bool tls_require_cert;
};
class Cluster {
 public:
  Result Start(const ClusterOptions& options);
  bool running() const;
  std::string master() const;
  std::string work_dir() const;
  int agent_count() const;
  Result WaitForAgents(double timeout_seconds);
  Result StopAgent(int index);
  void Shutdown();
};
}

namespace corral::java {
class NativeCluster : public corral::binding::Cluster {
 public:
  jbyteArray stateBytes(JNIEnv* env);
  int addAgent(const std::string& resources);
  std::string last_error;
};
}
