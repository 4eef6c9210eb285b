"""Reads a path through an imageflight coordinator with plain pyarrow (no
project code) and prints {origin: sha256(data)} as JSON. Used by the Go
end-to-end tests to check what a real pyarrow client receives."""
import hashlib
import json
import sys

import pyarrow.flight as fl

coordinator, path = sys.argv[1], sys.argv[2]
opts = [("grpc.max_receive_message_length", -1)]
info = fl.FlightClient(coordinator, generic_options=opts).get_flight_info(
    fl.FlightDescriptor.for_command(json.dumps({"path": path, "recursive": True, "numPartitions": 4})))
out = {}
for ep in info.endpoints:
    table = fl.FlightClient(ep.locations[0], generic_options=opts).do_get(ep.ticket).read_all()
    for img in table.column("image").to_pylist():
        out[img["origin"]] = hashlib.sha256(img["data"]).hexdigest()
print(json.dumps(out))
