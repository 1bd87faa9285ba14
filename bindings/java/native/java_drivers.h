// The JNI side of the Java SDK: the bytes-level drivers (corral/binding/
// drivers.h) with a sink that calls a Java object. SWIG wraps these classes
// for io.corral.internal; the public API is the Java classes in io.corral.
//
// Threading: a driver's callback thread is attached to the JVM once, as a
// daemon (so a running driver never keeps the JVM from exiting), and
// detached when the thread ends. Methods may be called from any Java thread.
#pragma once

#include <jni.h>

#include <memory>
#include <string>

#include "corral/binding/drivers.h"

namespace corral::java {

using binding::Result;

// The Java sink is any object with `boolean onEvent(byte[])`,
// `boolean onDisconnected()` and `void onClosed()`; it is held by a global
// reference until the driver is closed.
class NativeSchedulerDriver {
 public:
  NativeSchedulerDriver(JNIEnv* env, jobject sink, jbyteArray framework, const std::string& master,
                        bool implicit_acknowledgements, double backoff_min, double backoff_max, double call_timeout,
                        const std::string& principal, const std::string& secret, bool tls,
                        const std::string& tls_ca_file, const std::string& tls_cert_file,
                        const std::string& tls_key_file);
  ~NativeSchedulerDriver();

  Result initError();
  Result start();
  Result stop(bool failover);
  Result abort();
  Result joinFor(double seconds);
  int status();
  std::string frameworkId();
  Result call(JNIEnv* env, jbyteArray call);
  void close();

 private:
  std::unique_ptr<binding::SchedulerDriver> driver_;
};

class NativeExecutorDriver {
 public:
  NativeExecutorDriver(JNIEnv* env, jobject sink);
  ~NativeExecutorDriver();

  Result start();
  Result stop();
  Result joinFor(double seconds);
  Result sendStatusUpdate(JNIEnv* env, jbyteArray status);
  Result sendFrameworkMessage(JNIEnv* env, jbyteArray data);
  void close();

 private:
  std::unique_ptr<binding::ExecutorDriver> driver_;
};

int bindingVersion();
std::string corralVersion();
// How many threads the library has attached to the JVM, ever: one per
// driver callback thread, not one per event.
long attachedThreads();
bool waitForClosing(double seconds);

}  // namespace corral::java
