package hdfsio_test

import (
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    hdfsio.Location
		origin  string
		wantErr bool
	}{
		{in: "/data/x", want: hdfsio.Location{Scheme: "file", Path: "/data/x"}, origin: "file:/data/x"},
		{in: "/data/../etc/", want: hdfsio.Location{Scheme: "file", Path: "/etc"}, origin: "file:/etc"},
		{in: "file:/data/x", want: hdfsio.Location{Scheme: "file", Path: "/data/x"}, origin: "file:/data/x"},
		{in: "file:///data/x", want: hdfsio.Location{Scheme: "file", Path: "/data/x"}, origin: "file:/data/x"},
		{in: "hdfs://nn:8020/a/b", want: hdfsio.Location{Scheme: "hdfs", Authority: "nn:8020", Path: "/a/b"}, origin: "hdfs://nn:8020/a/b"},
		{in: "hdfs://mycluster/a/../b", want: hdfsio.Location{Scheme: "hdfs", Authority: "mycluster", Path: "/b"}, origin: "hdfs://mycluster/b"},
		{in: "hdfs:///a", wantErr: true},
		{in: "s3://bucket/x", wantErr: true},
		{in: "file://otherhost/x", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		got, err := hdfsio.ParseLocation(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseLocation(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && (got != tc.want || got.String() != tc.origin) {
			t.Errorf("ParseLocation(%q) = %+v (%s), want %+v (%s)", tc.in, got, got, tc.want, tc.origin)
		}
	}
}

func TestRootsContain(t *testing.T) {
	roots, err := hdfsio.ParseRoots([]string{"/data/images", "hdfs://nn:8020/datasets"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		in   bool
	}{
		{"/data/images", true},
		{"/data/images/cls=a/x.jpg", true},
		{"/data/images/../secret", false},
		{"/data/imagesX/y.jpg", false},
		{"/etc/passwd", false},
		{"hdfs://nn:8020/datasets/imagenet", true},
		{"hdfs://nn:9000/datasets/imagenet", false},
		{"hdfs://other:8020/datasets", false},
		{"file:/data/images/a.png", true},
	}
	for _, tc := range tests {
		l, err := hdfsio.ParseLocation(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := roots.Contains(l); got != tc.in {
			t.Errorf("Contains(%s) = %v, want %v", tc.path, got, tc.in)
		}
	}
}
