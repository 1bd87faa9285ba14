// Package native is the SWIG wrapper of the Go SDK's native library
// (corral/go/drivers.h in libcorral_go). Only package corral uses it.
package native

// #cgo pkg-config: corral-go
// #cgo CXXFLAGS: -std=c++17
import "C"

//go:generate bash ../../generate.sh
