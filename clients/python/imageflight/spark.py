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

The DataFrame has the schema of ``spark.read.format("image").load(...)``: a nullable struct
column ``image`` (origin string, height int, width int, nChannels int, mode int, data binary,
all nullable exactly as Spark's file source reports them) followed by the ``key=value``
partition columns (strings by default; see :func:`image_schema` to get Spark's inferred
types such as ``year int``).

One Spark partition per Flight endpoint: ``partitions()`` plans with GetFlightInfo on the
driver, and ``read()`` streams that endpoint's Arrow record batches on an executor,
failing over between the endpoint's locations.
"""

from __future__ import annotations

import json
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
    "path": ("path", "path"),
}

_SUPPORTED = ("coordinator, recursive, sampleRatio, seed, dropInvalid, numPartitions, timeout, "
              "stallTimeout")


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


def _settings(options: Dict[str, str]) -> _Settings:
    kwargs: Dict[str, Any] = {}
    coordinator = _client.DEFAULT_COORDINATOR
    timeout: Optional[float] = None
    stall_timeout: Optional[float] = _client.DEFAULT_STALL_TIMEOUT
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
        else:
            kwargs[kw] = value
    if "path" not in kwargs:
        raise _client.InvalidArgument(
            "imageflight: no path; use spark.read.format('imageflight').load(path)"
        )
    command = _client.build_command(**kwargs)
    return _Settings(path=command["path"], coordinator=coordinator, command=command,
                     timeout=timeout, stall_timeout=stall_timeout)


def _spark_type_of(arrow_type: pa.DataType) -> DataType:
    from pyspark.sql.pandas.types import from_arrow_type

    return from_arrow_type(arrow_type)


class ImageFlightDataSource(DataSource):
    """``spark.read.format("imageflight")``: Spark's image source served by imageflight."""

    @classmethod
    def name(cls) -> str:
        return "imageflight"

    def schema(self) -> StructType:
        s = _settings(dict(self.options))
        plan = _client.get_plan(s.command, s.coordinator, timeout=s.timeout)
        fields = [StructField("image", IMAGE_STRUCT_TYPE, True)]
        for f in plan.schema:
            if f.name == "image":
                continue
            fields.append(StructField(f.name, _spark_type_of(f.type), True))
        return StructType(fields)

    def reader(self, schema: StructType) -> "ImageFlightReader":
        return ImageFlightReader(_settings(dict(self.options)), schema)


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
    def __init__(self, settings: _Settings, schema: StructType):
        self.settings = settings
        self.schema = schema
        _check_user_schema(schema)

    def partitions(self) -> List[InputPartition]:
        s = self.settings
        plan = _client.get_plan(s.command, s.coordinator, timeout=s.timeout)
        want = [f.name for f in self.schema.fields[1:]]
        have = plan.partition_columns
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
        for batch in _client.read_endpoint(ep, timeout=self.settings.timeout,
                                           stall_timeout=self.settings.stall_timeout):
            if batch.num_rows == 0:
                continue
            yield _conform(batch, target)


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
        elif not col.type.equals(f.type):
            col = col.cast(f.type)
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=target)
