// SWIG interface of the Go SDK's drivers (corral/go/drivers.h). Generated
// into native.go and native_wrap.cxx by bindings/go/generate.sh; both are
// committed so that `go build` needs no SWIG.
%module(directors="1") native

%{
#include "corral/go/drivers.h"
%}

%include "std_string.i"
%include "stdint.i"

// An event reaches Go without a copy: the Go string points at the driver's
// buffer and is valid only during the call. The SDK parses it there and
// keeps nothing that aliases it (protobuf's Unmarshal copies what it keeps).
%typemap(directorin) const std::string& event %{
  $input.p = const_cast<char*>($1.data());
  $input.n = static_cast<intgo>($1.size());
%}
%typemap(godirectorin) const std::string& event %{
  $result = $input
%}

%feature("director") corral::gobinding::Dispatcher;
%include "corral/go/drivers.h"
