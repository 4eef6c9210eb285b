package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// TensorType is Arrow's canonical fixed-shape tensor extension type
// ("arrow.fixed_shape_tensor"): each value a C×H×W tensor stored row-major
// in a fixed-size list, so pyarrow's to_numpy_ndarray() and PyTorch take a
// whole column as one (N, C, H, W) array without copying. arrow-go has no
// implementation of it yet.
type TensorType struct {
	arrow.ExtensionBase
	shape []int
}

// NewTensorType returns the tensor type of shape with float32 or float64
// elements.
func NewTensorType(shape []int, double bool) *TensorType {
	elem := arrow.DataType(arrow.PrimitiveTypes.Float32)
	if double {
		elem = arrow.PrimitiveTypes.Float64
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &TensorType{ExtensionBase: arrow.ExtensionBase{Storage: arrow.FixedSizeListOf(int32(n), elem)}, shape: slices.Clone(shape)}
}

func init() {
	if err := arrow.RegisterExtensionType(NewTensorType([]int{1}, false)); err != nil {
		panic(err)
	}
}

// ArrayType implements arrow.ExtensionType.
func (*TensorType) ArrayType() reflect.Type { return reflect.TypeOf(TensorArray{}) }

// ExtensionName implements arrow.ExtensionType.
func (*TensorType) ExtensionName() string { return "arrow.fixed_shape_tensor" }

// String implements arrow.DataType.
func (t *TensorType) String() string {
	return fmt.Sprintf("extension<arrow.fixed_shape_tensor[value_type=%s, shape=%v]>", t.Storage.(*arrow.FixedSizeListType).Elem(), t.shape)
}

// Serialize implements arrow.ExtensionType: the canonical JSON metadata.
func (t *TensorType) Serialize() string {
	b, _ := json.Marshal(struct {
		Shape []int `json:"shape"`
	}{t.shape})
	return string(b)
}

// Deserialize implements arrow.ExtensionType.
func (*TensorType) Deserialize(storage arrow.DataType, data string) (arrow.ExtensionType, error) {
	var meta struct {
		Shape []int `json:"shape"`
	}
	if err := json.Unmarshal([]byte(data), &meta); err != nil {
		return nil, fmt.Errorf("fixed_shape_tensor metadata %q: %w", data, err)
	}
	fsl, ok := storage.(*arrow.FixedSizeListType)
	if !ok {
		return nil, fmt.Errorf("fixed_shape_tensor storage %s is not a fixed-size list", storage)
	}
	return &TensorType{ExtensionBase: arrow.ExtensionBase{Storage: fsl}, shape: meta.Shape}, nil
}

// ExtensionEquals implements arrow.ExtensionType.
func (t *TensorType) ExtensionEquals(other arrow.ExtensionType) bool {
	o, ok := other.(*TensorType)
	return ok && slices.Equal(t.shape, o.shape) && arrow.TypeEqual(t.Storage, o.Storage)
}

// Shape is the tensor's dimensions.
func (t *TensorType) Shape() []int { return t.shape }

// TensorArray is a column of TensorType.
type TensorArray struct {
	array.ExtensionArrayBase
}
