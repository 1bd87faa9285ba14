module github.com/corral/corral/bindings/go

go 1.23

require (
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.36.12
)
