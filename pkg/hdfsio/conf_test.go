package hdfsio_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/hdfsio"
)

func TestResolveNameNodes(t *testing.T) {
	conf := hdfsio.HadoopConf{
		"fs.defaultFS":                       "hdfs://prod",
		"dfs.nameservices":                   "prod,fed,broken",
		"dfs.ha.namenodes.prod":              " nn2 ,nn1",
		"dfs.namenode.rpc-address.prod.nn1":  "nn1.example:8020",
		"dfs.namenode.rpc-address.prod.nn2":  "nn2.example",
		"dfs.namenode.http-address.prod.nn1": "nn1.example:9870",
		"dfs.namenode.http-address.prod.nn2": "nn2.example:9870",
		"dfs.namenode.rpc-address.fed":       "fed.example:9000",
		"dfs.namenode.rpc-address.other.nn1": "unrelated:1",
		"dfs.ha.namenodes.half":              "a,b",
		"dfs.namenode.rpc-address.half.a":    "a:1",
	}
	for _, tc := range []struct {
		authority string
		want      []string
		err       string
	}{
		{"prod", []string{"nn2.example:8020", "nn1.example:8020"}, ""},
		{"", []string{"nn2.example:8020", "nn1.example:8020"}, ""}, // fs.defaultFS
		{"fed", []string{"fed.example:9000"}, ""},
		{"nn.example:9000", []string{"nn.example:9000"}, ""},
		{"nn.example", []string{"nn.example:8020"}, ""},
		{"[::1]:9000", []string{"[::1]:9000"}, ""},
		{"broken", nil, "neither"},
		{"half", nil, `NameNode "b"`},
	} {
		got, err := hdfsio.ResolveNameNodes(conf, tc.authority)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ResolveNameNodes(%q) = %v, %v; want error with %q", tc.authority, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ResolveNameNodes(%q) = %v, %v; want %v", tc.authority, got, err, tc.want)
		}
	}
	if _, err := hdfsio.ResolveNameNodes(hdfsio.HadoopConf{}, ""); err == nil {
		t.Error("empty authority without fs.defaultFS should fail")
	}
	if got := hdfsio.ResolveNameNodeHTTP(conf, "prod"); !slices.Equal(got, []string{"nn2.example:9870", "nn1.example:9870"}) {
		t.Errorf("ResolveNameNodeHTTP(prod) = %v", got)
	}
	if got := hdfsio.ResolveNameNodeHTTP(hdfsio.HadoopConf{}, "nn:8020"); !slices.Equal(got, []string{"nn:9870"}) {
		t.Errorf("ResolveNameNodeHTTP(nn:8020) = %v", got)
	}
	if got := hdfsio.Nameservices(conf); !slices.Equal(got, []string{"broken", "fed", "half", "prod"}) {
		t.Errorf("Nameservices = %v", got)
	}
}

func TestParseHDFSURI(t *testing.T) {
	for _, tc := range []struct{ uri, auth, path, err string }{
		{"hdfs://nn:8020/data/x.jpg", "nn:8020", "/data/x.jpg", ""},
		{"hdfs://mycluster/a/../b/", "mycluster", "/b", ""},
		{"hdfs:///data", "", "/data", ""},
		{"hdfs://nn", "nn", "/", ""},
		{"hdfs://nn/with%20space", "nn", "/with space", ""},
		{"file:/x", "", "", "scheme"},
		{"hdfs://u@nn/x", "", "", "user info"},
	} {
		a, p, err := hdfsio.ParseHDFSURI(tc.uri)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseHDFSURI(%q) err = %v, want %q", tc.uri, err, tc.err)
			}
			continue
		}
		if err != nil || a != tc.auth || p != tc.path {
			t.Errorf("ParseHDFSURI(%q) = %q, %q, %v; want %q, %q", tc.uri, a, p, err, tc.auth, tc.path)
		}
	}
}

func TestHostsByBytes(t *testing.T) {
	got := hdfsio.HostsByBytes([]hdfsio.BlockLocation{
		{Length: 100, Hosts: []string{"b", "a"}},
		{Length: 50, Hosts: []string{"c", "a"}},
		{Length: 10, Hosts: []string{"b", "b"}},
	})
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("HostsByBytes = %v, want %v", got, want)
	}
}
