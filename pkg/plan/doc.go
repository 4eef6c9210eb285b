// Package plan turns a read into work: it lists the files under the
// requested path (skipping hidden entries, descending as the descriptor
// asks), samples them reproducibly, infers partition columns, cuts the files
// into byte-balanced splits and orders the live workers for each split. The
// coordinator runs it; it never reads pixels. A plan's paths are walked
// together, level by level, and each folder is entered once under its
// shallowest name (ties: the smallest path), so links never multiply files
// and every run keeps the same names (see ListRoots).
package plan
