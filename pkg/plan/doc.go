// Package plan turns a read into work, the first step of the data flow
// (descriptor → files → splits → workers), run by the coordinator's
// planning service (pkg/planner). Selector resolves a descriptor's paths
// (lists and Hadoop globs) within the served roots, applies basePath and
// the name filters and lists the files (skipping hidden entries,
// descending as the descriptor asks); the listing is sampled
// reproducibly, filtered by partition values and limited. The package
// infers partition columns, cuts the files into byte-balanced splits and
// orders the live workers for each split. It never reads pixels. A plan's
// paths are walked together, level by level, and each folder is entered
// once under its shallowest name (ties: the smallest path), so links never
// multiply files and every run keeps the same names (see ListRoots).
package plan
