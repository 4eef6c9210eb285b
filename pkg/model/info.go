// Package model runs ONNX models on the workers, right after the tensor
// stage, so that only features cross the wire. It reads a model's declared
// inputs and outputs from its protobuf without any runtime (ReadIO, used
// by planning), loads ONNX Runtime's shared library lazily at run time
// (Runtime: binaries build and run without it), opens sessions from model
// bytes, runs mini-batches, derives SynapseML's softmax and argmax
// columns, and keeps sessions in a digest-keyed cache bounded by bytes.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/imageflight/imageflight/pkg/stage"
)

// ErrNotONNX marks bytes that are not an ONNX model.
var ErrNotONNX = errors.New("not an ONNX model")

// Digest is the form tickets carry a model's SHA-256 in.
func Digest(data []byte) string {
	s := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(s[:])
}

// ONNX protobuf field numbers (onnx/onnx.proto).
const (
	modelIRVersion = 1
	modelGraph     = 7
	graphInit      = 5
	graphInput     = 11
	graphOutput    = 12
	tensorName     = 8
	valueName      = 1
	valueType      = 2
	typeTensor     = 1
	tensorElem     = 1
	tensorShape    = 2
	shapeDim       = 1
	dimValue       = 1
)

// ReadIO reads a model's graph inputs (initializers left out, as ONNX
// Runtime leaves them out) and outputs from its ModelProto. Bytes that do
// not parse as a ModelProto with an IR version and a graph with outputs are
// ErrNotONNX. Non-tensor values get Elem 0.
func ReadIO(data []byte) (stage.ModelIO, error) {
	var io stage.ModelIO
	var ir uint64
	var graph []byte
	err := fields(data, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		switch {
		case num == modelIRVersion && typ == protowire.VarintType:
			ir = n
		case num == modelGraph && typ == protowire.BytesType:
			graph = v
		}
		return nil
	})
	if err != nil || ir == 0 || graph == nil {
		return io, fmt.Errorf("%w: no ModelProto with an IR version and a graph", ErrNotONNX)
	}
	inits := map[string]bool{}
	var ins, outs [][]byte
	err = fields(graph, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case graphInit:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == tensorName && typ == protowire.BytesType {
					inits[string(v)] = true
				}
				return nil
			})
		case graphInput:
			ins = append(ins, v)
		case graphOutput:
			outs = append(outs, v)
		}
		return nil
	})
	if err != nil {
		return io, fmt.Errorf("%w: graph: %v", ErrNotONNX, err)
	}
	for _, l := range []struct {
		raw []([]byte)
		dst *[]stage.ModelValue
	}{{ins, &io.Inputs}, {outs, &io.Outputs}} {
		for _, raw := range l.raw {
			v, err := readValue(raw)
			if err != nil {
				return io, fmt.Errorf("%w: %v", ErrNotONNX, err)
			}
			if l.dst == &io.Inputs && inits[v.Name] {
				continue
			}
			*l.dst = append(*l.dst, v)
		}
	}
	if len(io.Outputs) == 0 {
		return io, fmt.Errorf("%w: the graph has no outputs", ErrNotONNX)
	}
	return io, nil
}

// readValue reads a ValueInfoProto: name, and for a tensor its element
// type and dimensions (-1 for a symbolic or unknown one).
func readValue(raw []byte) (stage.ModelValue, error) {
	var v stage.ModelValue
	err := fields(raw, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) error {
		switch {
		case num == valueName && typ == protowire.BytesType:
			v.Name = string(b)
		case num == valueType && typ == protowire.BytesType:
			return fields(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) error {
				if num != typeTensor || typ != protowire.BytesType {
					return nil
				}
				v.Dims = []int64{} // a tensor of unknown rank keeps nil below only without a shape
				return fields(b, func(num protowire.Number, typ protowire.Type, b []byte, n uint64) error {
					switch {
					case num == tensorElem && typ == protowire.VarintType:
						v.Elem = int(n)
					case num == tensorShape && typ == protowire.BytesType:
						return fields(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) error {
							if num != shapeDim || typ != protowire.BytesType {
								return nil
							}
							d := int64(-1)
							err := fields(b, func(num protowire.Number, typ protowire.Type, _ []byte, n uint64) error {
								if num == dimValue && typ == protowire.VarintType && int64(n) > 0 {
									d = int64(n)
								}
								return nil
							})
							v.Dims = append(v.Dims, d)
							return err
						})
					}
					return nil
				})
			})
		}
		return nil
	})
	return v, err
}

// fields calls f for each field of a protobuf message: bytes fields with
// their contents, varints with their value.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		var v []byte
		var n uint64
		switch typ {
		case protowire.VarintType:
			n, l = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			v, l = protowire.ConsumeBytes(b)
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
		}
		if l < 0 {
			return protowire.ParseError(l)
		}
		b = b[l:]
		if err := f(num, typ, v, n); err != nil {
			return err
		}
	}
	return nil
}
