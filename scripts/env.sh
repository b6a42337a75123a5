# Sourced by scripts/test and scripts/bench: installs the Python tools into .venv (moto server,
# aws-sam-cli, cfn-lint, cargo-lambda), puts them on PATH, starts moto on a free loopback port
# (stopped when the sourcing script exits) and exports the AWS environment pointing at it.
# Any missing tool is a failure, never a skip.
root=$(pwd)

venv="$root/.venv"
requirements="$root/scripts/requirements-test.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
    echo "==> installing test tools into .venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0
for tool in moto_server sam cfn-lint cargo-lambda; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing from .venv" >&2; exit 1; }
done

# moto on a free loopback port, stopped however this script ends.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp -t moto.XXXXXX.log)
python "$root/scripts/moto_atomic.py" 127.0.0.1 "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null; then break; fi
    if ! kill -0 $moto_pid 2>/dev/null; then echo "error: moto server died:" >&2; cat "$moto_log" >&2; exit 1; fi
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null || { echo "error: moto server did not start:" >&2; cat "$moto_log" >&2; exit 1; }
echo "==> moto server on 127.0.0.1:$port"

export MLC_MOTO_ENDPOINT="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL="$MLC_MOTO_ENDPOINT"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_EC2_METADATA_DISABLED=true

# The console's browser test drives Debian's Chromium through its chromedriver; nothing downloads a browser.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "==> installing chromium and chromium-driver (Debian packages)"
    sudo_if_needed=""
    [[ $(id -u) -eq 0 ]] || sudo_if_needed="sudo"
    $sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_if_needed apt-get install -y -qq chromium chromium-driver >/dev/null
fi
for tool in chromium chromedriver; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (Debian's chromium and chromium-driver)" >&2; exit 1; }
done
