#!/usr/bin/env python3
"""Independent X509-SVID check of a data plane certificate issued by kuma_core::ca.

Usage: check_svid.py MESH LEAF_PEM BUNDLE_PEM [CHAIN_PEM]

Checks, with the `cryptography` package (not with the code under test):
- the leaf is not a CA, has digitalSignature and has neither keyCertSign nor cRLSign;
- it has at least one spiffe:// URI SAN, and every one has the mesh as trust domain and a path;
- it chains by signature to a certificate of the trust bundle, possibly through the
  intermediates of CHAIN_PEM (whose first certificate is the leaf itself).

Kuma puts several URI SANs in a certificate (spiffe:// and kuma://), so the X509-SVID rule of
exactly one URI SAN is deliberately not checked. Exits 1 with a message on the first failure.
"""

import sys
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID


def fail(message):
    print(f"check_svid: {message}", file=sys.stderr)
    sys.exit(1)


def load_all(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def extension(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def check_leaf(mesh, leaf):
    constraints = extension(leaf, ExtensionOID.BASIC_CONSTRAINTS)
    if constraints is not None and constraints.ca:
        fail("leaf is a CA")
    usage = extension(leaf, ExtensionOID.KEY_USAGE)
    if usage is None or not usage.digital_signature:
        fail("leaf lacks digitalSignature")
    if usage.key_cert_sign or usage.crl_sign:
        fail("leaf has keyCertSign or cRLSign")
    san = extension(leaf, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    uris = san.get_values_for_type(x509.UniformResourceIdentifier) if san else []
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    if not spiffe:
        fail(f"no spiffe URI SAN in {uris}")
    for uri in spiffe:
        parsed = urlparse(uri)
        if parsed.netloc != mesh:
            fail(f"{uri}: trust domain {parsed.netloc!r} is not the mesh {mesh!r}")
        if len(parsed.path) < 2:
            fail(f"{uri}: no workload path")


def check_chain(leaf, bundle, intermediates):
    anchors = [c.public_bytes(Encoding.DER) for c in bundle]
    pool = bundle + intermediates
    current = leaf
    for _ in range(8):
        issuer = None
        for candidate in pool:
            try:
                current.verify_directly_issued_by(candidate)
            except Exception:  # wrong name, wrong key or bad signature: try the next one
                continue
            issuer = candidate
            break
        if issuer is None:
            fail(f"no certificate issued {current.subject.rfc4514_string()!r}")
        der = issuer.public_bytes(Encoding.DER)
        if der in anchors:
            return
        current = issuer
    fail("chain too long")


def main():
    if len(sys.argv) not in (4, 5):
        fail(__doc__)
    mesh, leaf_path, bundle_path = sys.argv[1:4]
    leaf = load_all(leaf_path)[0]
    bundle = load_all(bundle_path)
    intermediates = load_all(sys.argv[4])[1:] if len(sys.argv) == 5 else []
    check_leaf(mesh, leaf)
    check_chain(leaf, bundle, intermediates)
    print("ok")


if __name__ == "__main__":
    main()
