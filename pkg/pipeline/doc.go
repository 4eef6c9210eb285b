// Package pipeline is the worker's split pipeline, between a signed ticket
// and the Flight edge (pkg/flight) in the data flow: it verifies a ticket,
// confines its files to the worker's roots, then reads, decodes
// (pkg/imagerow), transforms (pkg/transform), computes the tensor and
// batches the rows in the stream schema (pkg/schema), in split order and
// with the resume position after each batch. A worker-wide memory budget,
// decode and stream slots bound what it holds; decoded pixels are laid
// out in pooled slabs (arena, slab) that batches send as they are. Errors
// carry a wire kind; bad images become invalid rows.
package pipeline
