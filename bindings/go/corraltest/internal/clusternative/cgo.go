// Package clusternative is the SWIG wrapper of the in-process cluster
// (corral/go/cluster.h in libcorral_go_testing). Only corraltest uses it.
package clusternative

// #cgo pkg-config: corral-go-testing
// #cgo CXXFLAGS: -std=c++17
import "C"
