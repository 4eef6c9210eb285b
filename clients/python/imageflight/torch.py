"""PyTorch ``IterableDataset`` over an imageflight read (extra ``torch``; the core package
never imports torch).

::

    from torch.utils.data import DataLoader
    from imageflight.torch import ImageFlightDataset

    ds = ImageFlightDataset("/data/images", coordinator="grpc://coord:8815",
                            classes=["cat", "dog"], shuffle=True, shuffle_seed=7,
                            shuffle_buffer=256)
    loader = DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for sample in loader:   # {"image": uint8 HxWx3 tensor, "label": int, "origin": str}
            ...

**Planning** happens once, in the process that creates the dataset (GetFlightInfo), or
again at each :meth:`~ImageFlightDataset.set_epoch` with ``replan_each_epoch=True``. The
:class:`~imageflight.Plan` (tickets as bytes) travels to the DataLoader workers with the
dataset, by fork or by pickling (spawn); workers never plan, so every worker sees the
same endpoints.

**Sharding**: the plan's endpoints are ordered (shuffled with ``shuffle_seed + epoch``
when ``shuffle``), then dealt round-robin to ``world_size * num_workers`` shards: rank r's
worker w reads every endpoint at positions ``r * num_workers + w`` modulo the shard
count. Every image is read exactly once per epoch over all ranks and workers. The rank
and world size come from the ``rank``/``world_size`` arguments, else from
``torch.distributed`` when it is initialized (read in the main process when the dataset
is handed to the workers), else 0 and 1. Shards hold whole endpoints: ask for at least
``world_size * num_workers`` partitions (``num_partitions``), ideally a multiple.

**Fork safety**: the dataset plans (and finds or checks the classes) through one helper
process of the creating process (``imageflight._connections.through_helper``), so that
process keeps no gRPC state and forked DataLoader workers use gRPC directly. Workers
forked after the parent used gRPC itself (e.g. ``plan=`` from ``get_plan``, or a read in
the main process) read through one helper process each, which dies with its worker;
spawn and forkserver workers use gRPC directly.
"""

from __future__ import annotations

import logging
import random
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ._batches import iter_plan
from ._connections import through_helper
from ._errors import InvalidArgument
from ._image import _check_channels, _pixels
from ._plan import Plan, get_plan
from ._shard import _mix, equal_share, shard_endpoints
from ._stats import ReadStats
from ._stream import DEFAULT_STALL_TIMEOUT

__all__ = ["ImageFlightDataset", "shard_endpoints", "TENSOR_COLUMN"]

_log = logging.getLogger("imageflight")

#: Name of the optional column with a ready-made tensor per row (an Arrow
#: ``fixed_shape_tensor`` extension column, e.g. from a server-side transform); yielded
#: as ``sample["tensor"]`` when present.
TENSOR_COLUMN = "tensor"

_AUTO = "auto"


def _dist_rank_world() -> Optional[Tuple[int, int]]:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
    except Exception:  # pragma: no cover - a broken distributed setup: no sharding info
        pass
    return None


class ImageFlightDataset(IterableDataset):
    """An imageflight read as a PyTorch ``IterableDataset`` of samples (dicts):

    - ``"image"``: the pixels, uint8 (uint16 for 16-bit images) height x width x channels,
      a ``torch.Tensor`` (``as_tensor=True``, default) or a numpy array; R, G, B order by
      default (``rgb=False``: Spark's B, G, R); ``transform(image)`` applied when given.
      ``channels=3`` (default) gives every image 3 channels, as torchvision's
      ``ImageFolder`` does with ``convert("RGB")``: gray repeated, alpha dropped (not
      composited), so the default collate can stack any folder. To keep alpha pass
      ``channels=4`` (RGBA for all, opaque alpha added where there is none) or
      ``channels=None`` (as decoded: RGBA stays 4 channels, gray becomes 3);
      ``channels=1``: BT.601 luma;
    - ``"label"``: the class index of the label column's value (``classes``), -1 for a
      null value; ``target_transform(label)`` applied when given. Only when there is a
      label column;
    - ``"origin"``: the file's URI;
    - ``"tensor"``: the row of a ``tensor`` column when the server sends one (an Arrow
      ``fixed_shape_tensor`` column), as a tensor/array of its shape;
    - with ``model=`` (an ONNX model the workers run on the tensor, docs/models.md): one
      entry per model column, named as the model's ``fetch`` (``fetchDict``) and
      ``softmax`` ask -- a float32 (softmax: float64) tensor/array of the output's shape
      without the batch dimension, e.g. ``sample["features"]``: 512 floats of ResNet-18 --
      and per ``argmax`` column a float (SynapseML's double). The workers send no pixels
      then (``pixels=None`` means ``False`` with a model), so a sample has no ``"image"``;
      ``pixels=True`` keeps the transformed image as ``"image"`` beside the features.

    Invalid images are skipped here and listed in ``stats.failed`` of the worker
    (``drop_image_failures=False``, default, so the plan counts the files: ``len()``), or
    dropped by the server (``True``).

    **Equal shards** (``drop_last=True``): every shard -- each DataLoader worker of each
    rank -- yields the same number of samples in every epoch, :meth:`share`, and drops the
    rest of its endpoints' rows (other rows each epoch when shuffled). With
    ``DataLoader(ds, batch_size=B, drop_last=True, num_workers=W)`` every epoch then has
    the same ``world_size * W * (ds.share(W) // B)`` batches per rank, and distributed
    ranks never wait for one another at the end of an epoch (as ``DistributedSampler``'s
    ``drop_last``). The share is the sum of the ``n // shards`` smallest endpoints' file
    counts (each shard reads at least that many endpoints): ask for a ``num_partitions``
    that is a multiple of the shard count, so that little is dropped. Invalid images
    count in the plan but give no sample: a shard with some yields fewer, and warns.

    ``len(ds)`` (and so ``len(DataLoader(ds, ...))``) is the number of planned files, known
    from the plan without decoding; an epoch yields that many samples less the invalid
    images. It raises TypeError, saying why, when the plan has no count
    (``drop_image_failures=True``) or the plan is shared by several ranks (the per-rank
    counts are not in the plan).

    Args:
      path, coordinator, recursive, num_partitions, drop_image_failures, sample_ratio,
        seed: the read, as for :func:`imageflight.read_images`; or ``plan=``: a
        :class:`~imageflight.Plan` from :func:`imageflight.get_plan`.
      label_column: the partition column holding the label (``"auto"``: the first
        partition column, if any; ``None``: no label).
      classes: the class names, index = position. ``None``: the sorted distinct values of
        the label column, found by reading the whole folder once in ``__init__`` (pass
        ``classes`` to avoid that pass). Given classes are checked in ``__init__``:
        distinct, of the label column's type, and -- with ``path`` -- covering every
        label of the folder (one more listing, with partition filters; no decoding).
      shuffle, shuffle_seed, shuffle_buffer: shuffle the endpoints, their interleaving and
        the rows (through a buffer of ``shuffle_buffer`` rows) with a seed derived from
        ``shuffle_seed``, the epoch and the shard.
      rank, world_size: this process's place among the ranks (default: torch.distributed).
      replan_each_epoch: plan again at every :meth:`set_epoch` (new files are seen;
        tickets never expire mid-training).
      drop_last: equal shards (above).
      model: an :class:`imageflight.Model` (or its JSON parameters) the workers run on
        the ``tensor`` of every image; needs ``transforms`` and ``tensor`` giving the
        model's input shape. Its columns are in each sample (above).
      pixels: send the images' pixels (default: ``True``, ``False`` with a model).
      max_workers, max_in_flight, timeout, stall_timeout: as for
        :func:`imageflight.iter_batches`, per DataLoader worker.
    """

    def __init__(
        self,
        path: Any = None,
        coordinator: Optional[str] = None,
        *,
        recursive: bool = False,
        num_partitions: int = -1,
        drop_image_failures: bool = False,
        sample_ratio: float = 1.0,
        seed: int = 0,
        transforms: Any = None,
        tensor: Any = None,
        fast_resize: bool = False,
        plan: Optional[Plan] = None,
        label_column: Optional[str] = _AUTO,
        classes: Optional[Sequence[Any]] = None,
        shuffle: bool = False,
        shuffle_seed: int = 0,
        shuffle_buffer: int = 0,
        rgb: bool = True,
        channels: Optional[int] = 3,
        as_tensor: bool = True,
        transform: Optional[Callable[[Any], Any]] = None,
        target_transform: Optional[Callable[[int], Any]] = None,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        replan_each_epoch: bool = False,
        drop_last: bool = False,
        max_workers: Optional[int] = None,
        max_in_flight: Optional[int] = -1,
        timeout: Optional[float] = None,
        stall_timeout: Optional[float] = DEFAULT_STALL_TIMEOUT,
        model: Any = None,
        pixels: Optional[bool] = None,
    ):
        super().__init__()
        _check_channels(channels)
        if (rank is None) != (world_size is None):
            raise InvalidArgument("pass both rank and world_size, or neither")
        if world_size is not None and not (int(world_size) >= 1 and 0 <= int(rank) < int(world_size)):
            raise InvalidArgument(f"need 0 <= rank < world_size, got {rank} of {world_size}")
        self.coordinator = coordinator
        self._read = dict(recursive=recursive, num_partitions=num_partitions,
                          drop_image_failures=drop_image_failures, sample_ratio=sample_ratio,
                          seed=seed, transforms=transforms, tensor=tensor, fast_resize=fast_resize,
                          model=model, pixels=model is None if pixels is None else bool(pixels))
        self.path = path
        if plan is not None and pixels is None:
            # A given plan: a model plan's rows carry no pixels unless pixels=True says so.
            self._read["pixels"] = not plan.model_columns
        if plan is None:
            if path is None:
                raise InvalidArgument("ImageFlightDataset needs a path (or plan=)")
            with through_helper():
                plan = get_plan(path, coordinator, timeout, **self._read)
        elif not isinstance(plan, Plan):
            raise InvalidArgument(f"plan must be an imageflight.Plan, got {plan!r}")
        self.plan = plan
        parts = plan.partition_columns
        if label_column == _AUTO:
            label_column = parts[0] if parts else None
        if label_column is not None and label_column not in parts:
            raise InvalidArgument(f"label_column {label_column!r} is not a partition column "
                                  f"of the read (partition columns: {parts})")
        self.label_column = label_column
        self.shuffle = bool(shuffle)
        self.shuffle_seed = int(shuffle_seed)
        self.shuffle_buffer = int(shuffle_buffer)
        self.rgb, self.channels, self.as_tensor = bool(rgb), channels, bool(as_tensor)
        self.transform, self.target_transform = transform, target_transform
        self.rank, self.world_size = (None, None) if rank is None else (int(rank), int(world_size))
        self.replan_each_epoch = bool(replan_each_epoch)
        self.drop_last = bool(drop_last)
        if self.drop_last:
            self._check_counts()
        self.max_workers, self.max_in_flight = max_workers, max_in_flight
        self.timeout, self.stall_timeout = timeout, stall_timeout
        self.epoch = 0
        self._dist: Optional[Tuple[int, int]] = None
        self.stats = ReadStats()  # this process's reads (each worker has its own copy)
        with through_helper():
            if label_column is not None and classes is None:
                classes = self._scan_classes()
            elif label_column is not None:
                classes = list(classes)
                self._check_classes(classes)
        self.classes: List[Any] = list(classes) if classes is not None else []
        self.class_to_idx: Dict[Any, int] = {c: i for i, c in enumerate(self.classes)}

    # -------------------------------------------------------------------- planning

    def _header_plan(self, **selection: Any) -> Plan:
        """A plan of the dataset's files whose rows carry headers only (no decode, no
        transforms): what finding and checking the classes needs."""
        read = dict(self._read, drop_image_failures=False, transforms=None, tensor=None,
                    fast_resize=False, model=None, pixels=False)
        return get_plan(self.path, self.coordinator, self.timeout, **read, **selection)

    def _scan_classes(self) -> List[Any]:
        _log.info("imageflight.torch: listing %s once to find the classes of %r "
                  "(pass classes= to skip this)", self.path, self.label_column)
        # Headers suffice: the labels are partition values. A given plan= cannot be
        # planned again, so it is read as it is.
        plan = self.plan if self.path is None else self._header_plan()
        seen = set()
        for b in iter_plan(plan, max_workers=self.max_workers, timeout=self.timeout,
                           stall_timeout=self.stall_timeout):
            col = b.column(b.schema.get_field_index(self.label_column))
            seen.update(v for v in pc.unique(col).to_pylist() if v is not None)
        return sorted(seen)

    def _check_classes(self, classes: List[Any]) -> None:
        """Refuses, before any training, classes that would fail mid-epoch: duplicates,
        values of another type than the label column's, and (with a path) folders whose
        label is not among them."""
        col = self.label_column
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1}, key=str)
            raise InvalidArgument(f"classes has duplicates: {dup[:10]}")
        typ = self.plan.schema.field(col).type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            ok, want = (lambda v: isinstance(v, str)), "str"
        elif pa.types.is_integer(typ):
            ok, want = (lambda v: isinstance(v, int) and not isinstance(v, bool)), "int"
        else:
            ok, want = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)), "a number"
        bad = [c for c in classes if not ok(c)]
        if bad:
            raise InvalidArgument(
                f"classes must be values of the label column {col!r} ({typ}: {want}), got "
                f"{bad[:5]!r}; e.g. year=2018 folders are ints, cls=cat folders strings")
        if self.path is None or not classes or len(classes) > 10000:
            return  # a given plan cannot be listed again; 'in' takes at most 10,000 values
        inside = self._header_plan(partition_filters=[{"column": col, "op": "in", "values": classes}])
        total = self.plan.total_records
        if total < 0 or inside.total_records < total:
            labelled = self._header_plan(
                partition_filters=[{"column": col, "op": "isNotNull"}]).total_records
            if inside.total_records < labelled:
                raise InvalidArgument(
                    f"{labelled - inside.total_records} of the {labelled} files under "
                    f"{self.path!r} have a {col!r} value not in classes {list(classes)[:20]}; "
                    f"pass classes=None to find the classes by reading the folder")

    def _check_counts(self) -> None:
        if any(ep.files < 0 for ep in self.plan.endpoints):
            raise InvalidArgument(
                "drop_last=True needs each endpoint's file count, which this coordinator "
                "does not send (it predates endpoint app_metadata): upgrade it")

    def share(self, num_workers: int = 0) -> int:
        """With ``drop_last=True``: the samples each shard yields per epoch, for
        ``num_workers`` DataLoader workers per rank (0: the main process reads)."""
        self._check_counts()
        shards = self.rank_world()[1] * max(1, int(num_workers))
        return equal_share([ep.files for ep in self.plan.endpoints], shards)

    def __len__(self) -> int:
        total = self.plan.total_records
        if total < 0:
            raise TypeError(
                "len(ImageFlightDataset) is the number of planned files, which the server "
                "counts only with drop_image_failures=False (the default; invalid images are "
                "then skipped here)")
        if self.rank_world()[1] > 1:
            raise TypeError(
                f"len(ImageFlightDataset): the plan has {total} files for all "
                f"{self.rank_world()[1]} ranks, but how many each rank reads is not in the plan")
        return total

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch (the shuffle depends on it); call it in the main process before
        iterating the DataLoader of that epoch. With ``replan_each_epoch`` plans again.
        (With ``persistent_workers=True`` the workers keep the epoch they started with.)"""
        self.epoch = int(epoch)
        if self.replan_each_epoch and self.path is not None:
            with through_helper():
                self.plan = get_plan(self.path, self.coordinator, self.timeout, **self._read)
            if self.drop_last:
                self._check_counts()

    def __getstate__(self) -> Dict[str, Any]:
        # Pickled in the main process for spawn workers: record torch.distributed's rank
        # there (a spawned worker has no process group).
        state = dict(self.__dict__)
        if self.rank is None and state.get("_dist") is None:
            state["_dist"] = _dist_rank_world()
        state["stats"] = ReadStats()
        return state

    def rank_world(self) -> Tuple[int, int]:
        """(rank, world_size) used for sharding."""
        if self.rank is not None:
            return self.rank, int(self.world_size)
        return self._dist or _dist_rank_world() or (0, 1)

    def shard(self) -> Tuple[int, int]:
        """(shard, shards) of the calling DataLoader worker (or main process)."""
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = self.rank_world()
        return rank * nw + wid, world * nw

    def endpoints_for(self, shard: int, shards: int) -> List[int]:
        """The endpoint indices a shard reads in the current epoch."""
        seed = _mix(self.shuffle_seed) if self.shuffle else None
        return shard_endpoints(len(self.plan.endpoints), shard, shards, seed, self.epoch)

    # -------------------------------------------------------------------- reading

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        shard, shards = self.shard()
        mine = self.endpoints_for(shard, shards)
        if 0 < len(self.plan.endpoints) < shards and shard == 0:
            warnings.warn(f"imageflight: {len(self.plan.endpoints)} endpoints for {shards} "
                          f"shards (ranks x DataLoader workers): some read nothing; ask for "
                          f"num_partitions >= {shards}", stacklevel=2)
        if not mine:
            return
        limit = None
        if self.drop_last:
            limit = equal_share([ep.files for ep in self.plan.endpoints], shards)
            if limit == 0:
                return
        batches = iter_plan(
            self.plan, endpoints=mine, max_workers=self.max_workers,
            max_in_flight=self.max_in_flight, shuffle=self.shuffle,
            shuffle_seed=_mix(self.shuffle_seed, self.epoch, shard),
            shuffle_buffer=self.shuffle_buffer if self.shuffle else 0,
            timeout=self.timeout, stall_timeout=self.stall_timeout, stats=self.stats)
        yielded = 0
        try:
            for batch in batches:
                for sample in self._samples(batch):
                    yield sample
                    yielded += 1
                    if yielded == limit:
                        return
        finally:
            batches.close()
        if limit is not None:
            warnings.warn(f"imageflight: shard {shard} of {shards} yielded {yielded} samples, "
                          f"{limit - yielded} short of the equal share {limit} (invalid "
                          f"images: see ds.stats.failed)", stacklevel=2)

    def _samples(self, batch: pa.RecordBatch) -> Iterator[Dict[str, Any]]:
        names = batch.schema.names
        n = batch.num_rows
        img = batch.column(names.index("image")) if "image" in names else None
        if img is not None:
            hs = img.field("height").to_pylist()
            ws = img.field("width").to_pylist()
            cs = img.field("nChannels").to_pylist()
            modes = img.field("mode").to_pylist()
            origins = img.field("origin").to_pylist()
            data = img.field("data")
        labels = None
        if self.label_column is not None:
            labels = batch.column(names.index(self.label_column)).to_pylist()
        tensors = None
        if TENSOR_COLUMN in names:
            tensors = _tensor_rows(batch.column(names.index(TENSOR_COLUMN)))
        model_cols = {}
        for name in self.plan.model_columns:
            col = batch.column(names.index(name))  # fetched and softmax: tensors; argmax: double
            model_cols[name] = (_tensor_rows(col) if isinstance(col.type, pa.FixedShapeTensorType)
                                else col.to_pylist())
        pixels = self._read["pixels"]
        for i in range(n):
            sample: Dict[str, Any] = {}
            if img is not None:
                if hs[i] is None or hs[i] < 0:
                    continue  # invalid image (listed in self.stats.failed)
                if pixels:
                    buf = data[i].as_buffer()
                    arr = _pixels(hs[i], ws[i], cs[i], modes[i], b"" if buf is None else buf,
                                  origins[i], self.rgb, self.channels)
                    image: Any = torch.from_numpy(arr) if self.as_tensor else arr
                    if self.transform is not None:
                        image = self.transform(image)
                    sample["image"] = image
                sample["origin"] = origins[i]
            if labels is not None:
                v = labels[i]
                if v is None:
                    label = -1
                else:
                    label = self.class_to_idx.get(v)
                    if label is None:
                        raise ValueError(f"imageflight.torch: label {v!r} of "
                                         f"{sample.get('origin')} is not among the classes "
                                         f"{self.classes[:20]}")
                sample["label"] = self.target_transform(label) if self.target_transform else label
            if tensors is not None:
                t = tensors[i].copy()
                sample[TENSOR_COLUMN] = torch.from_numpy(t) if self.as_tensor else t
            for name, rows in model_cols.items():
                v = rows[i]
                if isinstance(v, np.ndarray):
                    v = v.copy()
                    v = torch.from_numpy(v) if self.as_tensor else v
                sample[name] = v
            yield sample


def _tensor_rows(col: Any):
    """The rows of a tensor column as numpy arrays: ``to_numpy_ndarray()`` of an Arrow
    ``fixed_shape_tensor`` extension column, else nested lists converted."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if col.null_count and isinstance(col.type, pa.FixedShapeTensorType):
        # Invalid images have a null tensor (skipped by the caller); to_numpy_ndarray()
        # refuses nulls, so read the fixed-size storage, null slots included.
        st = col.storage
        size = st.type.list_size
        flat = st.values.slice(st.offset * size, len(st) * size).to_numpy(zero_copy_only=False)
        return flat.reshape((len(col), *col.type.shape))
    if hasattr(col, "to_numpy_ndarray"):
        return col.to_numpy_ndarray()
    if isinstance(col.type, pa.ExtensionType) and hasattr(col, "storage"):
        col = col.storage
    return [np.asarray(v) for v in col.to_pylist()]
