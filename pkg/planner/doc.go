// Package planner is the coordinator's planning service, between the
// descriptor and the workers in the data flow: GetFlightInfo parses a
// descriptor, selects and lists its files with pkg/plan, cuts them into
// splits, weighs block locality, assigns workers and signs one ticket per
// split (inline, or by reference to a plan kept in its store when the file
// lists are large); GetSchema answers the stream schema (pkg/schema); the
// split action hands a by-reference plan's file list to a worker. Plans
// run a bounded number at once. Errors carry a wire kind; the Flight edge
// (pkg/flight) maps them to gRPC codes.
package planner
