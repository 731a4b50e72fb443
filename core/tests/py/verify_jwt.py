#!/usr/bin/env python3
"""Independent check of a token issued by kuma_core::tokens, with PyJWT and cryptography.

Usage: verify_jwt.py PUBLIC_KEY_PEM_FILE TOKEN
Verifies the RS256 signature and exp/nbf with the public key (PKCS#1 or SPKI PEM) and prints
{"header": ..., "claims": ...} as sorted JSON. Exits non-zero if PyJWT rejects the token.
"""
import json
import sys

import jwt


def main() -> None:
    key_file, token = sys.argv[1], sys.argv[2]
    with open(key_file, "rb") as f:
        public_key = f.read()
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, public_key, algorithms=["RS256"], options={"require": ["exp", "nbf", "iat", "jti"]})
    print(json.dumps({"header": header, "claims": claims}, sort_keys=True))


if __name__ == "__main__":
    main()
