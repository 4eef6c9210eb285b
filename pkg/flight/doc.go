// Package flight is the Arrow Flight edge of a process, the last step of
// the data flow (pkg/plan → pkg/planner → pkg/pipeline → here): Service
// answers GetFlightInfo and GetSchema from the coordinator's planner,
// DoGet from the worker's pipeline and the actions of wire, and maps every
// error kind the logic returns to its gRPC status code (toStatus). It adds
// what only the transport knows: the send guard that fails a stream whose
// client stopped reading, each connection's lifetime (connLife), the
// zero-copy codec (pkg/flightcodec) and the per-call metrics by status
// code. It holds no planning or streaming logic. Arrow's own flight
// package is imported as aflight.
package flight
