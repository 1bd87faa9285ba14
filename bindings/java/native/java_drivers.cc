#include "java_drivers.h"

#include <atomic>
#include <string>

namespace corral::java {
namespace {

std::atomic<long> g_attached{0};

// Attached for the life of a native thread: made on its first event and
// detached when the thread ends.
class AttachedThread {
 public:
  explicit AttachedThread(JavaVM* vm) : vm_(vm) {
    JavaVMAttachArgs args{JNI_VERSION_1_8, const_cast<char*>("corral-callback"), nullptr};
    if (vm_->AttachCurrentThreadAsDaemon(reinterpret_cast<void**>(&env_), &args) == JNI_OK) {
      ++g_attached;
    } else {
      env_ = nullptr;
    }
  }
  ~AttachedThread() {
    if (env_ != nullptr) vm_->DetachCurrentThread();
  }
  JNIEnv* env() const { return env_; }

 private:
  JavaVM* vm_;
  JNIEnv* env_ = nullptr;
};

JNIEnv* CurrentEnv(JavaVM* vm) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_8) == JNI_OK) return env;
  thread_local AttachedThread attached(vm);
  return attached.env();
}

std::string Bytes(JNIEnv* env, jbyteArray array) {
  if (array == nullptr) return {};
  std::string out(static_cast<size_t>(env->GetArrayLength(array)), '\0');
  env->GetByteArrayRegion(array, 0, static_cast<jsize>(out.size()), reinterpret_cast<jbyte*>(out.data()));
  return out;
}

Result NullArgument(const char* name) {
  return {static_cast<int>(3) /* INVALID_ARGUMENT */, std::string(name) + ": must not be null"};
}

// Calls the Java sink. A Java exception that escapes it (the SDK's own
// dispatch catches the user's) counts as a failed handler.
class JavaSink : public binding::EventSink {
 public:
  JavaSink(JNIEnv* env, jobject sink) {
    env->GetJavaVM(&vm_);
    sink_ = env->NewGlobalRef(sink);
    jclass cls = env->GetObjectClass(sink);
    on_event_ = env->GetMethodID(cls, "onEvent", "([B)Z");
    on_disconnected_ = env->GetMethodID(cls, "onDisconnected", "()Z");
    on_closed_ = env->GetMethodID(cls, "onClosed", "()V");
    env->DeleteLocalRef(cls);
    if (on_event_ == nullptr || on_disconnected_ == nullptr || on_closed_ == nullptr) {
      env->ExceptionClear();
      valid_ = false;
    }
  }
  bool valid() const { return valid_; }

  bool OnEvent(const char* data, size_t size) override {
    JNIEnv* env = CurrentEnv(vm_);
    if (env == nullptr || !valid_) return false;
    jbyteArray array = env->NewByteArray(static_cast<jsize>(size));
    if (array == nullptr) return Failed(env);  // OutOfMemoryError
    env->SetByteArrayRegion(array, 0, static_cast<jsize>(size), reinterpret_cast<const jbyte*>(data));
    jboolean ok = env->CallBooleanMethod(sink_, on_event_, array);
    env->DeleteLocalRef(array);
    if (env->ExceptionCheck()) return Failed(env);
    return ok == JNI_TRUE;
  }
  bool OnDisconnected() override {
    JNIEnv* env = CurrentEnv(vm_);
    if (env == nullptr || !valid_) return false;
    jboolean ok = env->CallBooleanMethod(sink_, on_disconnected_);
    if (env->ExceptionCheck()) return Failed(env);
    return ok == JNI_TRUE;
  }
  void OnClosed() override {
    JNIEnv* env = CurrentEnv(vm_);
    if (env != nullptr) {
      if (valid_) {
        env->CallVoidMethod(sink_, on_closed_);
        if (env->ExceptionCheck()) env->ExceptionClear();
      }
      env->DeleteGlobalRef(sink_);
    }
    delete this;
  }

 private:
  static bool Failed(JNIEnv* env) {
    env->ExceptionClear();
    return false;
  }
  JavaVM* vm_ = nullptr;
  jobject sink_ = nullptr;
  jmethodID on_event_ = nullptr, on_disconnected_ = nullptr, on_closed_ = nullptr;
  bool valid_ = true;
};

}  // namespace

NativeSchedulerDriver::NativeSchedulerDriver(JNIEnv* env, jobject sink, jbyteArray framework, const std::string& master,
                                             bool implicit_acknowledgements, double backoff_min, double backoff_max,
                                             double call_timeout, const std::string& principal,
                                             const std::string& secret, bool tls, const std::string& tls_ca_file,
                                             const std::string& tls_cert_file, const std::string& tls_key_file) {
  binding::SchedulerOptions o;
  o.implicit_acknowledgements = implicit_acknowledgements;
  o.reconnect_backoff_min = backoff_min;
  o.reconnect_backoff_max = backoff_max;
  o.call_timeout = call_timeout;
  o.principal = principal;
  o.secret = secret;
  o.tls = tls;
  o.tls_ca_file = tls_ca_file;
  o.tls_cert_file = tls_cert_file;
  o.tls_key_file = tls_key_file;
  const std::string bytes = Bytes(env, framework);
  binding::EventSink* s = sink == nullptr ? nullptr : new JavaSink(env, sink);
  driver_ = std::make_unique<binding::SchedulerDriver>(s, framework == nullptr ? nullptr : bytes.data(), bytes.size(),
                                                       master, o);
}
NativeSchedulerDriver::~NativeSchedulerDriver() { close(); }
Result NativeSchedulerDriver::initError() { return driver_->init_error(); }
Result NativeSchedulerDriver::start() { return driver_->Start(); }
Result NativeSchedulerDriver::stop(bool failover) { return driver_->Stop(failover); }
Result NativeSchedulerDriver::abort() { return driver_->Abort(); }
Result NativeSchedulerDriver::joinFor(double seconds) { return driver_->JoinFor(seconds); }
int NativeSchedulerDriver::status() { return driver_->Status(); }
std::string NativeSchedulerDriver::frameworkId() { return driver_->FrameworkId(); }
Result NativeSchedulerDriver::call(JNIEnv* env, jbyteArray call) {
  if (call == nullptr) return NullArgument("call");
  const std::string bytes = Bytes(env, call);
  return driver_->Call(bytes.data(), bytes.size());
}
void NativeSchedulerDriver::close() { driver_->Close(); }

NativeExecutorDriver::NativeExecutorDriver(JNIEnv* env, jobject sink)
    : driver_(std::make_unique<binding::ExecutorDriver>(sink == nullptr ? nullptr : new JavaSink(env, sink))) {}
NativeExecutorDriver::~NativeExecutorDriver() { close(); }
Result NativeExecutorDriver::start() { return driver_->Start(); }
Result NativeExecutorDriver::stop() { return driver_->Stop(); }
Result NativeExecutorDriver::joinFor(double seconds) { return driver_->JoinFor(seconds); }
Result NativeExecutorDriver::sendStatusUpdate(JNIEnv* env, jbyteArray status) {
  if (status == nullptr) return NullArgument("status");
  const std::string bytes = Bytes(env, status);
  return driver_->SendStatusUpdate(bytes.data(), bytes.size());
}
Result NativeExecutorDriver::sendFrameworkMessage(JNIEnv* env, jbyteArray data) {
  if (data == nullptr) return NullArgument("data");
  const std::string bytes = Bytes(env, data);
  return driver_->SendFrameworkMessage(bytes.data(), bytes.size());
}
void NativeExecutorDriver::close() { driver_->Close(); }

int bindingVersion() { return binding::BindingVersion(); }
std::string corralVersion() { return binding::CorralVersion(); }
long attachedThreads() { return g_attached.load(); }
bool waitForClosing(double seconds) { return binding::WaitForClosing(seconds); }

}  // namespace corral::java
