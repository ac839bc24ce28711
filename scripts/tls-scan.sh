#!/bin/sh
# Scans a running stunnel-ts server section with testssl (slow: a few minutes) and fails
# when testssl flags anything at severity MEDIUM or above (vulnerabilities, weak protocols
# or ciphers). The fast sslscan check runs in npm test (spec/e2e/posture-tls.spec.ts).
#
# Usage: scripts/tls-scan.sh            start a daemon with the test PKI (sslVersion = all) and scan it
#        scripts/tls-scan.sh HOST:PORT  scan something already running (loopback only)
set -eu

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/stunnel-ts-scan-XXXXXX)
daemon_pid=
echo_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null || true
    [ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
    node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

if [ $# -ge 1 ]; then
    target=$1
    case $target in
        127.*|localhost:*|\[::1\]:*) ;;
        *) echo "tls-scan: only loopback targets are scanned here: $target" >&2; exit 2 ;;
    esac
else
    [ -f dist/spec/helpers/pki.js ] || npx tsc -p .
    pkidir=$(node -e 'console.log(require("./dist/spec/helpers/pki.js").pki().dir)')
    echo_port=$(free_port)
    node -e "require('net').createServer((s)=>{s.on('error',()=>{});s.pipe(s)}).listen($echo_port,'127.0.0.1')" &
    echo_pid=$!
    port=$(free_port)
    cat > "$work/scan.conf" <<EOF
foreground = yes
syslog = no
pid =
debug = 4
[scan]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$echo_port
cert = $pkidir/server.pem
key = $pkidir/server.key
sslVersion = all
EOF
    node bin/stunnel-ts "$work/scan.conf" 2> "$work/daemon.log" &
    daemon_pid=$!
    i=0
    until node -e "require('net').connect($port,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "tls-scan: daemon did not start" >&2; cat "$work/daemon.log" >&2; exit 1; }
        sleep 0.1
    done
    target=127.0.0.1:$port
fi

echo "tls-scan: testssl on $target (this takes a few minutes)"
# --warnings batch: no prompts; --ip one: loopback only; JSON gives one finding per object with its severity.
testssl --quiet --color 0 --warnings batch --ip one --jsonfile "$work/scan.json" "$target" > "$work/scan.txt" 2>&1 || true
# Findings about the certificate itself (the test PKI: a private CA, 3 days of validity, no CRL/OCSP)
# describe the certificate, not how stunnel-ts speaks TLS: they are listed but not counted.
# So is cipher_order: stunnel 5.68 does not prefer its own cipher order either unless told to
# (`options = CIPHER_SERVER_PREFERENCE`); testssl rates that HIGH on stunnel4 itself.
node -e '
const all = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const notPosture = (f) => /^(cert_|DNS_CAArecord|OCSP_stapling|intermediate_cert|chain_of_trust|cipher_order$)/.test(f.id);
for (const f of all.filter((f) => notPosture(f) && f.severity !== "OK" && f.severity !== "INFO")) {
  console.log(`not counted (${f.severity}): ${f.id}: ${f.finding}`);
}
const findings = all.filter((f) => !notPosture(f));
const bad = findings.filter((f) => ["MEDIUM", "HIGH", "CRITICAL"].includes(f.severity));
const low = findings.filter((f) => f.severity === "LOW");
for (const f of low) console.log(`note (LOW): ${f.id}: ${f.finding}`);
for (const f of bad) console.log(`FLAGGED (${f.severity}): ${f.id}: ${f.finding}`);
console.log(`${findings.length} findings, ${bad.length} at MEDIUM or above, ${low.length} LOW`);
process.exit(bad.length === 0 ? 0 : 1);
' "$work/scan.json"
