// SWIG interface of libcorral_jni: the classes of java_drivers.h, for
// io.corral.internal. Messages cross as byte[]; the Java sink is a plain
// Object (see java_drivers.h for the methods it must have).
%module CorralNative

%{
#include "java_drivers.h"
%}

%include "std_string.i"

// No finalize(): the Java SDK closes drivers itself and frees the native
// objects through a java.lang.ref.Cleaner.
%typemap(javafinalize) SWIGTYPE ""
// The JNIEnv of the calling thread, passed by SWIG rather than by Java.
%typemap(in, numinputs=0) JNIEnv* env "$1 = jenv;"

%rename(Result) corral::binding::Result;
namespace corral::binding {
struct Result {
  static const int kStillRunning = -1;
  int code;
  std::string message;
};
}

%include "java_drivers.h"
