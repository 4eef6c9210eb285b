//go:build sparkjvm

// Assertions on what ConnectorCheck saw in each Spark line.

package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/imageflight/imageflight/pkg/corpus"
)

// row is one line of ConnectorCheck's rows: origin h w c mode sha256 cls=.. split=..
type row struct {
	rel             string
	h, w, c, mode   int
	sha, cls, split string
}

func parseRows(t *testing.T, lines []string, dir string) map[string]row {
	t.Helper()
	out := map[string]row{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 8 {
			t.Fatalf("bad row %q", l)
		}
		u, err := url.Parse(f[0]) // Spark 3.5 says file:///d/x, the server file:/d/x: same URI
		if err != nil || u.Scheme != "file" {
			t.Fatalf("origin %q is not a file: URI", f[0])
		}
		rel, err := filepath.Rel(dir, u.Path)
		if err != nil {
			t.Fatal(err)
		}
		var r row
		r.rel, r.sha, r.cls, r.split = filepath.ToSlash(rel), f[5], f[6], f[7]
		for i, p := range []*int{&r.h, &r.w, &r.c, &r.mode} {
			*p, _ = strconv.Atoi(f[1+i])
		}
		if _, dup := out[r.rel]; dup {
			t.Errorf("two rows for %s", r.rel)
		}
		out[r.rel] = r
	}
	return out
}

var emptySHA = hex.EncodeToString(func() []byte { s := sha256.Sum256(nil); return s[:] }())

// assertRows: the connector's rows equal Spark's format("image") on the same folder, but
// for the documented deviations (DEVIATIONS in test/python/test_spark_oracle.py):
// WebP (Spark cannot decode it), broken files (Spark salvages a truncated JPEG, skips a
// zero-byte file), 16-bit gray PNG (Spark keeps the low byte). Lossless rows must also
// equal the corpus's expected bytes.
func assertRows(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	if res.SchemaImage != res.SchemaOurs {
		t.Errorf("schema differs from format(\"image\"):\n%s\n%s", res.SchemaImage, res.SchemaOurs)
	}
	dir := commonDir(t, res.RowsOurs)
	spark, ours := parseRows(t, res.RowsImage, dir), parseRows(t, res.RowsOurs, dir)
	if len(ours) != len(entries) {
		t.Errorf("connector read %d rows, want one per corpus file (%d)", len(ours), len(entries))
	}
	same, deviations := 0, 0
	for _, e := range entries {
		o, ok := ours[e.Rel]
		if !ok {
			t.Errorf("%s: no row from the connector", e.Rel)
			continue
		}
		if want := "cls=" + partOf(e.Rel, "cls"); o.cls != want || o.split != "split="+partOf(e.Rel, "split") {
			t.Errorf("%s: partition values %s %s", e.Rel, o.cls, o.split)
		}
		if [4]int{o.h, o.w, o.c, o.mode} != [4]int{int(e.Height), int(e.Width), int(e.NChannels), int(e.Mode)} {
			t.Errorf("%s: shape %v, corpus expects %v", e.Rel, [4]int{o.h, o.w, o.c, o.mode}, e)
		}
		if e.Data != nil {
			if s := sha256.Sum256(e.Data); hex.EncodeToString(s[:]) != o.sha {
				t.Errorf("%s: pixels differ from the corpus's expected bytes", e.Rel)
			}
		}
		s, inSpark := spark[e.Rel]
		switch {
		case e.Format == "broken":
			deviations++
			if o.h != -1 || o.sha != emptySHA {
				t.Errorf("%s: broken file should give the invalid row, got %+v", e.Rel, o)
			}
		case e.Format == "webp":
			deviations++
			if !inSpark || s.h != -1 {
				t.Errorf("%s: Spark decoded WebP (%+v): the documented deviation is gone", e.Rel, s)
			}
		case !inSpark:
			t.Errorf("%s: no row from format(\"image\")", e.Rel)
		case s == o:
			same++
		case e.Format == "png" && e.NChannels == 1 && s.h == o.h && s.sha != o.sha && e.Data != nil:
			deviations++ // 16-bit gray: Spark keeps the low byte; ours equals the corpus's bytes (checked above)
		default:
			t.Errorf("%s: rows differ\nSpark:     %+v\nconnector: %+v", e.Rel, s, o)
		}
	}
	t.Logf("rows: %d identical to format(\"image\") (JPEG included), %d documented deviations", same, deviations)
	if same < len(entries)-8 {
		t.Errorf("only %d of %d rows identical", same, len(entries))
	}
}

func commonDir(t *testing.T, rows []string) string {
	t.Helper()
	for _, l := range rows {
		u, _ := url.Parse(strings.Fields(l)[0])
		if i := strings.Index(u.Path, "/cls="); i > 0 {
			return u.Path[:i]
		}
	}
	t.Fatal("no row under a cls= folder")
	return ""
}

func partOf(rel, key string) string {
	for _, seg := range strings.Split(rel, "/") {
		if v, ok := strings.CutPrefix(seg, key+"="); ok {
			return v
		}
	}
	return ""
}

// clsCounts: files per cls= partition value.
func clsCounts(entries []corpus.Entry) map[string]int {
	groups := map[string]int{}
	for _, e := range entries {
		groups[partOf(e.Rel, "cls")]++
	}
	return groups
}

func valid(entries []corpus.Entry) int {
	n := 0
	for _, e := range entries {
		if e.Height > 0 {
			n++
		}
	}
	return n
}

// assertPruning: queries that read no pixels put no row with pixels into any batch; a plain
// COUNT(*) is answered from the plan, without a worker reading a file.
func assertPruning(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	n := len(entries)
	for name, m := range map[string]measured{"count()": res.Count, `select("cls").where(cls IS NOT NULL).count()`: res.SelectCls} {
		if m.PixelRows != 0 || m.Images != 0 || string(m.Result) != strconv.Itoa(n) {
			t.Errorf("%s = %s: workers put %d rows with pixels into batches and read %d images, want %d, 0 and 0",
				name, m.Result, m.PixelRows, m.Images, n)
		}
	}
	for name, m := range map[string]measured{`groupBy("cls").count()`: res.GroupBy, `select(height, width)`: res.HeightWidth} {
		if m.PixelRows != 0 || m.Images != int64(n) {
			t.Errorf("%s: workers put %d rows with pixels into batches and read %d images, want 0 and %d",
				name, m.PixelRows, m.Images, n)
		}
	}
	if res.Full.PixelRows != int64(valid(entries)) {
		t.Errorf("full read: %d rows with pixels, want %d (every valid image)", res.Full.PixelRows, valid(entries))
	}
	groups := clsCounts(entries)
	var want []string
	for k, v := range groups {
		want = append(want, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(want)
	var got []string
	if err := json.Unmarshal(res.GroupBy.Result, &got); err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("groupBy(cls).count() = %s, want %v", res.GroupBy.Result, want)
	}
	if !strings.Contains(res.ExplainCount, "PushedAggregation: [COUNT(*)]") || aggregateNode.MatchString(res.ExplainCount) {
		t.Errorf("count() is not answered by the scan:\n%s", res.ExplainCount)
	}
	if !strings.Contains(res.ExplainGroupBy, "HeaderOnly: true") {
		t.Errorf("groupBy(cls).count() is not header-only:\n%s", res.ExplainGroupBy)
	}
	// With dropInvalid a header-only read would keep a file whose body is corrupt: decode.
	if !strings.Contains(res.ExplainDropInvalidCount, "HeaderOnly: false") || res.CountDropInvalid != valid(entries) {
		t.Errorf("dropInvalid count() = %d (want %d), plan:\n%s", res.CountDropInvalid, valid(entries), res.ExplainDropInvalidCount)
	}
	if res.ReadImagesCount != valid(entries) {
		t.Errorf("ImageFlight.readImages(dropImageFailures=true).count() = %d, want %d", res.ReadImagesCount, valid(entries))
	}
	// Pruned (header) dimensions equal the decoded ones but for a broken file whose header parses.
	var hw []string
	_ = json.Unmarshal(res.HeightWidth.Result, &hw)
	full := map[string]string{}
	for _, l := range res.RowsOurs {
		f := strings.Fields(l)
		full[f[0]] = f[1] + " " + f[2]
	}
	for _, l := range hw {
		f := strings.Fields(l)
		if full[f[0]] != f[1]+" "+f[2] && !strings.Contains(f[0], "truncated") {
			t.Errorf("%s: header-only %s %s, decoded %s", f[0], f[1], f[2], full[f[0]])
		}
	}
}

// filterNode and aggregateNode match a Filter and an aggregate operator line of an explain() tree.
var (
	filterNode    = regexp.MustCompile(`(?m)^[\s+*()\d-]*Filter `)
	aggregateNode = regexp.MustCompile(`(?m)^[\s+*()\d-]*\w*Aggregate`)
)

// assertPushdown: partition filters and LIMIT reach the scan, shown in explain().
func assertPushdown(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	cats := 0
	for _, e := range entries {
		if partOf(e.Rel, "cls") == "cats" {
			cats++
		}
	}
	if !strings.Contains(res.ExplainWhere, "EqualTo(cls,cats)") || !strings.Contains(res.ExplainWhere, "In(split, [test,train])") ||
		filterNode.MatchString(res.ExplainWhere) {
		t.Errorf("where(cls = 'cats' AND split IN ...) not fully pushed:\n%s", res.ExplainWhere)
	}
	if res.WhereCount != cats {
		t.Errorf("where count %d, want %d (Spark's own: %d)", res.WhereCount, cats, res.WhereCountImage)
	}
	if !filterNode.MatchString(res.ExplainNotPushed) || !strings.Contains(res.ExplainNotPushed, "PushedFilters: []") {
		t.Errorf("a filter on image.height must stay in Spark:\n%s", res.ExplainNotPushed)
	}
	if !strings.Contains(res.ExplainLimit, "PushedLimit: 3") || res.LimitCount != 3 || res.LimitRows != 3 {
		t.Errorf("limit(3): %d rows, count %d, plan:\n%s", res.LimitRows, res.LimitCount, res.ExplainLimit)
	}
	if res.SampledCount != res.SampledRows || res.SampledCount == 0 || res.SampledCount >= res.PartitionRows ||
		res.LimitOptionCount != 5 {
		t.Errorf("COUNT(*) from the plan: sampleRatio 0.5 counts %d of %d, reads %d rows; limit 5 counts %d",
			res.SampledCount, res.PartitionRows, res.SampledRows, res.LimitOptionCount)
	}
}

var partitionRE = regexp.MustCompile(`^EndpointPartition\((\d+), \[(.*)\]\)$`)

// assertLocality: each Spark partition prefers the hosts of its endpoint's locations, in order.
func assertLocality(t *testing.T, res checkResult, c *cluster) {
	t.Helper()
	workerHosts := map[string]bool{}
	for _, w := range c.workers {
		workerHosts[strings.Split(w.flight, ":")[0]] = true
	}
	var rddPrefs [][]string
	n := 0
	for _, p := range res.Partitions {
		if p.RddPreferred != nil {
			rddPrefs = p.RddPreferred
			continue
		}
		n++
		m := partitionRE.FindStringSubmatch(p.Partition)
		if m == nil {
			t.Fatalf("partition %q", p.Partition)
		}
		var hosts []string
		for _, loc := range strings.Split(m[2], ", ") {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			if !workerHosts[u.Hostname()] {
				t.Errorf("location %s is not a worker", loc)
			}
			hosts = append(hosts, u.Hostname())
		}
		if strings.Join(p.Preferred, ",") != strings.Join(hosts, ",") {
			t.Errorf("%s prefers %v, want its locations' hosts %v", p.Partition, p.Preferred, hosts)
		}
	}
	if n != 4 || len(rddPrefs) != 4 {
		t.Errorf("numPartitions=4 gave %d input partitions and %d RDD partitions", n, len(rddPrefs))
	}
	for i, p := range rddPrefs {
		if i < len(res.Partitions) && strings.Join(p, ",") != strings.Join(res.Partitions[i].Preferred, ",") {
			t.Errorf("RDD partition %d prefers %v, its input partition %v", i, p, res.Partitions[i].Preferred)
		}
	}
}

// assertFailover: the read during which a streaming worker was SIGKILLed gave the same
// multiset of rows as the clean read, with a resume or failover recorded in Spark's metrics.
func assertFailover(t *testing.T, res checkResult) {
	t.Helper()
	if len(res.FailoverClean) == 0 || strings.Join(res.FailoverClean, "\n") != strings.Join(res.FailoverKilled, "\n") {
		t.Errorf("rows after the SIGKILL differ: %d rows, clean read %d", len(res.FailoverKilled), len(res.FailoverClean))
	}
	if res.FailoverCleanMetrics["imageflightRows"] != int64(len(res.FailoverClean)) {
		t.Errorf("custom metric imageflightRows = %d, want %d", res.FailoverCleanMetrics["imageflightRows"], len(res.FailoverClean))
	}
	moved := res.FailoverMetrics["imageflightResumes"] + res.FailoverMetrics["imageflightFailovers"]
	if moved == 0 {
		t.Errorf("no resume or failover recorded after the SIGKILL: %v", res.FailoverMetrics)
	}
	t.Logf("failover read: %d rows, metrics %v", len(res.FailoverKilled), res.FailoverMetrics)
}

// assertStall: the read during which a streaming worker was SIGSTOPped (stallTimeout 10 s)
// gave the same multiset of rows as the clean read, its stall recorded in Spark's metrics.
func assertStall(t *testing.T, res checkResult) {
	t.Helper()
	if strings.Join(res.FailoverClean, "\n") != strings.Join(res.Stalled, "\n") {
		t.Errorf("rows after the SIGSTOP differ: %d rows, clean read %d", len(res.Stalled), len(res.FailoverClean))
	}
	if res.StalledMetrics["imageflightStalls"] == 0 || res.StalledMetrics["imageflightResumes"]+res.StalledMetrics["imageflightFailovers"] == 0 {
		t.Errorf("no stall and resume recorded after the SIGSTOP: %v", res.StalledMetrics)
	}
	t.Logf("stalled read: %d rows, metrics %v", len(res.Stalled), res.StalledMetrics)
}

// assertSecure: a read over TLS with a basic-auth login gets every row and its pixels
// (the workers take the coordinator's token); a wrong password is refused.
func assertSecure(t *testing.T, res checkResult, entries []corpus.Entry) {
	t.Helper()
	if res.SecureCount != len(entries) || res.SecureBytes <= 0 {
		t.Errorf("TLS + auth read: %d rows, %d pixel bytes; want %d rows", res.SecureCount, res.SecureBytes, len(entries))
	}
	if !strings.Contains(res.SecureBadPassword, "UNAUTHENTICATED") {
		t.Errorf("a wrong password gave %q, want UNAUTHENTICATED", res.SecureBadPassword)
	}
}

// assertSynapse: SynapseML's ImageTransformer takes the connector's DataFrame unchanged
// (Spark's image schema) and resizes every valid image; SynapseML 1.1.0 exists for Spark
// 3.5 / Scala 2.12 only, the line whose test classpath has it.
func assertSynapse(t *testing.T, res checkResult, line sparkLine, entries []corpus.Entry) {
	t.Helper()
	want := -1
	if line.name == "3.5_2.12" {
		want = valid(entries)
	}
	if res.SynapseResized != want {
		t.Errorf("SynapseML ImageTransformer resized %d rows to 32x48, want %d", res.SynapseResized, want)
	}
}
