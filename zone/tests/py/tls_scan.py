"""Scans TLS listeners with sslyze and checks what the project promises of every one of them:
TLS 1.2 or newer only, no weak cipher suites (every accepted suite is an AEAD with forward
secrecy and a key of at least 128 bits), and a certificate chain that verifies with the CA the
listener is configured with.

Usage: tls_scan.py HOST:PORT=CA_FILE [...]. Prints one line per listener and finding; exits 1
when any check fails, 2 when a scan could not run.
"""

import json
import subprocess
import sys
import tempfile

OLD_PROTOCOLS = ["ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites", "tls_1_0_cipher_suites",
                 "tls_1_1_cipher_suites"]
MODERN = ["tls_1_2_cipher_suites", "tls_1_3_cipher_suites"]
AEAD = ("GCM", "CHACHA20_POLY1305")


def scan(target, ca_file):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, "-m", "sslyze", f"--json_out={out.name}", "--certinfo", f"--certinfo_ca_file={ca_file}",
                   "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3",
                   "--heartbleed", "--compression", target]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        try:
            with open(out.name) as f:
                report = json.load(f)
        except (OSError, ValueError):
            print(f"{target}: sslyze produced no report: {done.stdout}{done.stderr}")
            sys.exit(2)
    result = report["server_scan_results"][0]
    if result["scan_status"] != "COMPLETED":
        print(f"{target}: scan did not complete: {result.get('connectivity_error_trace')}")
        sys.exit(2)
    scanned = result["scan_result"]
    for name, command in scanned.items():
        if command["status"] == "ERROR":
            print(f"{target}: {name} failed: {command['error_reason']} {command['error_trace']}")
            sys.exit(2)
    return scanned


def outcome(result, name):
    """The result of a scan command that must have run."""
    if result[name]["result"] is None:
        print(f"scan command {name} did not run ({result[name]['status']})")
        sys.exit(2)
    return result[name]["result"]


def check(target, ca_file):
    findings = []
    result = scan(target, ca_file)
    for name in OLD_PROTOCOLS:
        accepted = outcome(result, name)["accepted_cipher_suites"]
        if accepted:
            findings.append(f"{name} accepted: {[c['cipher_suite']['name'] for c in accepted]}")
    suites = []
    for name in MODERN:
        for accepted in outcome(result, name)["accepted_cipher_suites"]:
            suite = accepted["cipher_suite"]
            suites.append(suite["name"])
            tls13 = name == "tls_1_3_cipher_suites"
            forward_secret = tls13 or suite["name"].startswith("TLS_ECDHE_")
            aead = any(mode in suite["name"] for mode in AEAD)
            if not (forward_secret and aead) or suite["key_size"] < 128 or suite["is_anonymous"]:
                findings.append(f"weak suite {suite['name']} ({suite['key_size']} bits)")
    if not suites:
        findings.append("no TLS 1.2 or 1.3 suite accepted")
    deployments = outcome(result, "certificate_info")["certificate_deployments"]
    supplied = [p for d in deployments for p in d["path_validation_results"]
                if p["trust_store"]["name"] == "Supplied CA file"]
    if not supplied or not all(p["was_validation_successful"] for p in supplied):
        findings.append(f"the chain does not verify with {ca_file}: {supplied}")
    if outcome(result, "heartbleed")["is_vulnerable_to_heartbleed"]:
        findings.append("vulnerable to heartbleed")
    if outcome(result, "tls_compression")["supports_compression"]:
        findings.append("TLS compression is on")
    print(f"{target}: {len(suites)} suites: {', '.join(suites)}")
    for finding in findings:
        print(f"{target}: FAIL {finding}")
    return not findings


def main():
    ok = True
    for arg in sys.argv[1:]:
        target, ca_file = arg.split("=", 1)
        ok = check(target, ca_file) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
