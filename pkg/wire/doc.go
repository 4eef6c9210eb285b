// Package wire is the contract between imageflight's processes and its
// clients, in one place: the JSON descriptor a client sends to plan a read,
// the signed ticket each endpoint carries and its resume suffix, the
// metadata on every record batch, the DoAction names and their JSON bodies,
// and the kinds of error a call can end with. docs/protocol.md states the
// same contract in prose for client authors; testdata/vectors.json holds the
// test vectors that the Go package and the Python client both check.
//
// The package has no gRPC or Arrow dependency: the coordinator, the workers
// and the clients speak it, and pkg/flight carries it over Arrow Flight.
package wire
