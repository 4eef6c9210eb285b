"""Spark 4 Python data source ``"imageflight"``.

Usage::

    import imageflight.spark
    imageflight.spark.register(spark)
    df = (spark.read.format("imageflight")
          .option("coordinator", "grpc://coord:8815")
          .option("recursive", "true")
          .option("sampleRatio", "0.1").option("seed", "7")
          .option("dropInvalid", "true")
          .load("hdfs://nn:8020/imgs"))

Selection options (docs/protocol.md): ``load(p1, p2, ...)`` and Hadoop globs in paths,
``basePath``, ``pathGlobFilter``, ``fileExtensions`` (comma-separated), ``limit``;
``pixels=false`` reads headers only (empty ``data``: PySpark 4.3's Python data sources are
not told which columns a query needs, so ``count()`` cannot ask for it by itself);
``failureReasons=true`` adds a ``failure`` column; ``partitionFilters`` (a JSON list,
docs/protocol.md §1.2) reads only the matching ``key=value`` folders.

No filter is pushed, whatever ``spark.sql.python.filterPushdown.enabled`` says: PySpark
4.3 keeps the partitions a pushdown planner returned on the DataFrame's source
(``PythonScanBuilder.pushFilters`` -> ``PythonDataSourceV2.setReadInfo``) and reuses them
for every later query that pushes nothing, so partitions pruned for ``where(cls='a')``
would be what the next ``count()``, ``groupBy`` or cache of the same DataFrame reads
(issue 17). Spark evaluates every ``where`` itself; to read fewer folders, put the filter in
the DataFrame's definition with the ``partitionFilters`` option.

The DataFrame has the schema of ``spark.read.format("image").load(...)``: a nullable struct
column ``image`` (origin string, height int, width int, nChannels int, mode int, data binary,
all nullable exactly as Spark's file source reports them) followed by the ``key=value``
partition columns (strings by default; see :func:`image_schema` to get Spark's inferred
types such as ``year int``).

One Spark partition per Flight endpoint: GetFlightInfo runs once on the driver when Spark
asks for the schema at ``load()``; ``partitions()`` reuses that plan (see ``planTtl``), and
``read()`` streams one endpoint's Arrow record batches on an executor, failing over between
the endpoint's locations.

How the plan gets from ``schema()`` to ``partitions()`` (checked on pyspark 4.3.0, see
test/python/test_spark_plan_count.py): Spark creates the DataSource in a Python planner
process, calls ``schema()`` and pickles *that instance* back to the JVM
(pyspark/sql/worker/create_data_source.py); at the DataFrame's first query another planner
process unpickles it and calls ``reader()`` and ``partitions()`` on it
(plan_data_source_read.py). So a plan stored on the instance in ``schema()`` reaches the
reader; it is used only if it is younger than ``planTtl`` seconds (default 600; 0 plans
again). The JVM keeps the partitions it got (PythonDataSourceV2.getOrCreateReadInfo), so
later queries on the same DataFrame reuse them without calling the reader again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pyarrow as pa
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.types import (
    BinaryType,
    DataType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    _parse_datatype_string,
)

from . import client as _client

__all__ = ["ImageFlightDataSource", "IMAGE_STRUCT_TYPE", "image_schema", "register"]

#: Spark's image struct as ``spark.read.format("image")`` reports it (every field nullable:
#: Spark's file sources mark their read schema nullable).
IMAGE_STRUCT_TYPE = StructType(
    [
        StructField("origin", StringType(), True),
        StructField("height", IntegerType(), True),
        StructField("width", IntegerType(), True),
        StructField("nChannels", IntegerType(), True),
        StructField("mode", IntegerType(), True),
        StructField("data", BinaryType(), True),
    ]
)

# Option name (lower case; Spark hands options over case-insensitively) -> (canonical name,
# build_command keyword).
_OPTIONS = {
    "coordinator": ("coordinator", None),
    "recursive": ("recursive", "recursive"),
    "recursivefilelookup": ("recursive", "recursive"),
    "sampleratio": ("sampleRatio", "sample_ratio"),
    "seed": ("seed", "seed"),
    "dropinvalid": ("dropInvalid", "drop_image_failures"),
    "dropimagefailures": ("dropInvalid", "drop_image_failures"),
    "numpartitions": ("numPartitions", "num_partitions"),
    "timeout": ("timeout", None),
    "stalltimeout": ("stallTimeout", None),
    "planttl": ("planTtl", None),
    "path": ("path", "path"),
    "transforms": ("transforms", "transforms"),
    "tensor": ("tensor", "tensor"),
    "fastresize": ("fastResize", "fast_resize"),
    "paths": ("paths", "path"),  # load(p1, p2, ...): a JSON list
    "basepath": ("basePath", "base_path"),
    "pathglobfilter": ("pathGlobFilter", "path_glob_filter"),
    "fileextensions": ("fileExtensions", "file_extensions"),
    "limit": ("limit", "limit"),
    "partitionfilters": ("partitionFilters", "partition_filters"),
    "pixels": ("pixels", "pixels"),
    "failurereasons": ("failureReasons", "failure_reasons"),
    "model": ("model", "model"),
}

_SUPPORTED = ("coordinator, recursive, sampleRatio, seed, dropInvalid, numPartitions, timeout, "
              "stallTimeout, planTtl, transforms, tensor, fastResize, basePath, pathGlobFilter, "
              "fileExtensions, limit, partitionFilters, pixels, failureReasons, model")

#: Columns of the server's schema that are not partition columns.
_DATA_COLUMNS = ("image", "tensor", "failure")

#: Seconds a plan made for ``schema()`` at ``load()`` may be reused for the partitions of
#: the DataFrame's first query (option ``planTtl``). Far below the server's ticket validity
#: (24 h by default); a first query run later lists the folder again.
DEFAULT_PLAN_TTL = 600.0


def image_schema(partition_columns: Optional[Dict[str, Any]] = None) -> StructType:
    """Returns Spark's image schema with the given partition columns.

    ``partition_columns`` maps column name -> Spark type (a DataType or a DDL type string
    such as ``"int"``). Pass the result to ``spark.read.schema(...)`` to get Spark's
    inferred partition types (e.g. ``{"year": "int"}`` for ``year=2018`` folders); the
    data source casts the server's string values to them.
    """
    fields = [StructField("image", IMAGE_STRUCT_TYPE, True)]
    for name, typ in (partition_columns or {}).items():
        if isinstance(typ, str):
            typ = _parse_datatype_string(typ)
        fields.append(StructField(name, typ, True))
    return StructType(fields)


def register(spark) -> None:
    """Registers the ``"imageflight"`` format on a SparkSession."""
    spark.dataSource.register(ImageFlightDataSource)


@dataclass(frozen=True)
class _Settings:
    path: str
    coordinator: str
    command: Dict[str, Any]
    timeout: Optional[float]
    stall_timeout: Optional[float] = _client.DEFAULT_STALL_TIMEOUT
    plan_ttl: float = DEFAULT_PLAN_TTL

    @property
    def plan_key(self) -> str:
        """What determines a plan: the coordinator and the command (not the timeouts)."""
        return json.dumps([self.coordinator, self.command], sort_keys=True)


def _settings(options: Dict[str, str]) -> _Settings:
    kwargs: Dict[str, Any] = {}
    coordinator = _client.resolve_coordinator(None)
    timeout: Optional[float] = None
    stall_timeout: Optional[float] = _client.DEFAULT_STALL_TIMEOUT
    plan_ttl = DEFAULT_PLAN_TTL
    for key, value in options.items():
        spec = _OPTIONS.get(key.lower())
        if spec is None:
            raise _client.InvalidArgument(
                f"imageflight: unknown option {key!r} (supported: {_SUPPORTED})"
            )
        canonical, kw = spec
        if canonical == "coordinator":
            coordinator = str(value)
        elif canonical == "timeout":
            timeout = _client._as_float("timeout", value)
            if timeout <= 0:
                raise _client.InvalidArgument(f"timeout must be > 0 seconds, got {timeout}")
        elif canonical == "stallTimeout":
            off = isinstance(value, str) and value.strip().lower() in ("", "none", "off", "0")
            stall_timeout = None if off else _client._check_stall_timeout(value)
        elif canonical == "planTtl":
            off = isinstance(value, str) and value.strip().lower() in ("none", "off")
            plan_ttl = 0.0 if off else _client._as_float("planTtl", value)
            if not plan_ttl >= 0 or plan_ttl == float("inf"):
                raise _client.InvalidArgument(
                    f"planTtl must be a finite number of seconds >= 0 (0 or 'off': the first "
                    f"query plans again), got {value!r}"
                )
        elif canonical == "paths":
            try:
                paths = json.loads(value) if isinstance(value, str) else value
            except ValueError:
                raise _client.InvalidArgument(f"imageflight: paths must be a JSON list, got {value!r}") from None
            kwargs["path"] = paths if "path" not in kwargs else [kwargs["path"], *paths]
        elif canonical == "path" and "path" in kwargs:
            kwargs["path"] = [value, *kwargs["path"]]
        else:
            kwargs[kw] = value
    if "path" not in kwargs:
        raise _client.InvalidArgument(
            "imageflight: no path; use spark.read.format('imageflight').load(path)"
        )
    command = _client.build_command(**kwargs)
    return _Settings(path=str(command["path"]), coordinator=coordinator, command=command,
                     timeout=timeout, stall_timeout=stall_timeout, plan_ttl=plan_ttl)


def _spark_type_of(arrow_type: pa.DataType) -> DataType:
    """Spark's type for a server column. Spark has no tensor type: the ``tensor`` column
    (Arrow fixed_shape_tensor) becomes ``array<float>`` (or ``array<double>``), the C×H×W
    values flattened row-major, the layout SynapseML's toTensor gives and Spark ML's
    ``array_to_vector`` takes."""
    from pyspark.sql.pandas.types import from_arrow_type

    if isinstance(arrow_type, pa.BaseExtensionType):
        return from_arrow_type(pa.list_(arrow_type.storage_type.value_type))
    return from_arrow_type(arrow_type)


class ImageFlightDataSource(DataSource):
    """``spark.read.format("imageflight")``: Spark's image source served by imageflight."""

    @classmethod
    def name(cls) -> str:
        return "imageflight"

    # The plan made for schema(), kept for reader(): (plan key, wall-clock time, Plan).
    # Wall clock, not time.monotonic(): the instance is pickled to another process.
    _cached_plan: Optional[Tuple[str, float, _client.Plan]] = None

    def schema(self) -> StructType:
        s = _settings(dict(self.options))
        plan = _client.get_plan(s.command, s.coordinator, timeout=s.timeout)
        if s.plan_ttl > 0:
            self._cached_plan = (s.plan_key, time.time(), plan)
        fields = [StructField("image", IMAGE_STRUCT_TYPE, True)]
        for f in plan.schema:
            if f.name == "image":
                continue
            fields.append(StructField(f.name, _spark_type_of(f.type), True))
        return StructType(fields)

    def reader(self, schema: StructType) -> "ImageFlightReader":
        s = _settings(dict(self.options))
        # Taken off the instance: Spark pickles this instance into the read function it
        # ships to executors, which need no plan (each task gets its own endpoint).
        cached = self.__dict__.pop("_cached_plan", None)
        plan = None
        if cached is not None:
            key, planned_at, p = cached
            if key == s.plan_key and 0 <= time.time() - planned_at < s.plan_ttl:
                plan = p
        return ImageFlightReader(s, schema, plan=plan)


class ImageFlightPartition(InputPartition):
    """One Flight endpoint: the ticket and its equivalent locations, preferred first."""

    def __init__(self, index: int, ticket: bytes, locations: Sequence[str]):
        super().__init__(index)
        self.index = index
        self.ticket = ticket
        self.locations = tuple(locations)

    def __repr__(self) -> str:  # shown in Spark UIs and errors
        return f"ImageFlightPartition({self.index}, locations={list(self.locations)})"


class ImageFlightReader(DataSourceReader):
    def __init__(self, settings: _Settings, schema: StructType,
                 plan: Optional[_client.Plan] = None):
        self.settings = settings
        self.schema = schema
        self._plan = plan  # a fresh plan made for schema(); None: plan in partitions()
        _check_user_schema(schema)

    def __getstate__(self) -> Dict[str, Any]:
        # Spark pickles the reader to every task (before partitions() runs): leave the
        # plan -- every endpoint's ticket -- behind; a task gets its endpoint as partition.
        state = dict(self.__dict__)
        state["_plan"] = None
        return state

    def partitions(self) -> List[InputPartition]:
        s = self.settings
        plan, self._plan = self._plan, None
        if plan is None:
            plan = _client.get_plan(s.command, s.coordinator, timeout=s.timeout)
        want = [f.name for f in self.schema.fields[1:] if f.name not in _DATA_COLUMNS]
        have = [f.name for f in plan.schema if f.name not in _DATA_COLUMNS]
        if want != have:
            raise _client.ImageFlightError(
                f"imageflight: partition columns of {s.path!r} are {have}, but the DataFrame "
                f"schema expects {want} (folder layout changed since the schema was read, or "
                f"a user-specified schema does not match)"
            )
        return [ImageFlightPartition(ep.index, ep.ticket, ep.locations) for ep in plan.endpoints]

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        from pyspark.sql.pandas.types import to_arrow_schema

        if not isinstance(partition, ImageFlightPartition):
            return  # Spark substitutes InputPartition(None) when a plan has no endpoints
        target = to_arrow_schema(self.schema)
        ep = _client.Endpoint(partition.index, partition.ticket, partition.locations)
        try:
            for batch in _client.read_endpoint(ep, timeout=self.settings.timeout,
                                               stall_timeout=self.settings.stall_timeout):
                if batch.num_rows == 0:
                    continue
                yield _conform(batch, target)
        except _client.PlanExpired as err:
            # Spark keeps a DataFrame's partitions (the tickets) for every later query, so
            # re-running the query cannot help: the DataFrame has to be created again.
            raise _client.PlanExpired(
                f"imageflight: partition {partition.index} of {self.settings.path!r}: "
                f"{err.reason}; the DataFrame's plan is no longer valid (tickets expired, or "
                f"the coordinator restarted / dropped the plan): call "
                f"spark.read.format('imageflight')...load({self.settings.path!r}) again and "
                f"run the query on the new DataFrame",
                rows_received=err.rows_received, reason=err.reason,
            ) from err


def _check_user_schema(schema: StructType) -> None:
    if not schema.fields or schema.fields[0].name != "image":
        raise _client.InvalidArgument(
            f"imageflight: the first column must be 'image' (Spark's image struct), got {schema.simpleString()}"
        )
    img = schema.fields[0].dataType
    if not isinstance(img, StructType) or [f.name for f in img.fields] != [f.name for f in IMAGE_STRUCT_TYPE.fields]:
        raise _client.InvalidArgument(
            f"imageflight: column 'image' must be {IMAGE_STRUCT_TYPE.simpleString()}, got {img.simpleString()}"
        )


def _conform(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """Casts a server batch to the exact Arrow schema Spark expects (names, types, nullability).

    Spark rejects a batch whose schema differs in any way (DATA_SOURCE_RETURN_SCHEMA_MISMATCH),
    so the image struct is rebuilt with Spark's nullability and partition strings are cast to
    the requested types (e.g. int for ``year=2018`` with a user-specified schema).
    """
    if batch.schema.equals(target):
        return batch
    columns = []
    for f in target:
        idx = batch.schema.get_field_index(f.name)
        if idx < 0:
            raise _client.ImageFlightError(
                f"imageflight: server batch has no column {f.name!r} (has {batch.schema.names})"
            )
        col = batch.column(idx)
        if f.name == "image":
            # flatten() honours the slice offset (field(i) does not).
            children = [c.cast(tf.type) for c, tf in zip(col.flatten(), f.type)]
            mask = col.is_null() if col.null_count else None
            col = pa.StructArray.from_arrays(children, fields=list(f.type), mask=mask)
        elif isinstance(col.type, pa.BaseExtensionType):
            col = col.storage.cast(f.type)  # fixed_shape_tensor -> list<float>
        elif not col.type.equals(f.type):
            col = col.cast(f.type)
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=target)
