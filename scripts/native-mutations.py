#!/usr/bin/env python3
"""Native mutation testing: puts one deliberate bug at a time into a copy of native/, builds the
kernel tests and the addon from it (cmake-js), and runs ctest's kernel tests and the agreement tests
(vitest, against that addon through BACKPROP_ADDON). A mutant is killed when any of them fails.
`npm run test:native-mutations`; about a minute a mutant on two cores."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

# (file, the exact text, its replacement, what the bug is)
MUTATIONS = [
    ("kernels_scalar.cc", "return sum + ep.bias[n];", "return sum;", "scalar GEMM forgets the bias"),
    ("kernels_scalar.cc", "return z > 0.0f ? z : 0.0f;", "return z > 0.0f ? z : 0.01f * z;", "scalar ReLU leaks negative inputs"),
    ("kernels_scalar.cc", "return ep.mask[m * ldc + n] > 0.0f ? sum : 0.0f;", "return ep.mask[m * ldc + n] >= 0.0f ? sum : 0.0f;", "ReLU mask passes inactive units"),
    ("kernels_scalar.cc", "const int width = g.N - n0 < kStrip ? g.N - n0 : kStrip;", "const int width = g.N - n0 < kStrip ? g.N - n0 - (g.N > 1) : kStrip;", "scalar GEMM drops the last column of a strip's tail"),
    ("kernels_avx512.cc", "static_cast<__mmask16>((1u << lanes) - 1u)", "static_cast<__mmask16>((1u << lanes) - 2u)", "AVX-512 tail mask misses its first lane"),
    ("kernels_avx2.cc", "for (int v = 0; v < NV; v++) lanes[v] = v == NV - 1 ? tail : _mm256_set1_epi32(-1);", "for (int v = 0; v < NV; v++) lanes[v] = _mm256_set1_epi32(-1);", "AVX2 tail is not masked"),
    ("parallel.cc", "const int end = std::min(extent, begin + block);", "const int end = std::min(extent, begin + block - (chunk == 0));", "thread split leaves a row or column unworked"),
    ("thread_pool.cc", "invoke(task, static_cast<int>(claims & 0xffffffffu), thread);", "invoke(task, 0, thread);", "the pool runs the first chunk for every claim"),
    ("elementwise.h", "exps[j] = std::exp(z[j] - max);", "exps[j] = std::exp(z[j]);", "softmax without the max subtraction"),
    ("elementwise.h", "row_correct[r] = argmax == labels[r];", "row_correct[r] = argmax != labels[r];", "accuracy counts the wrong ones"),
    ("dense.cc", "bias_step.decay = false;", "bias_step.decay = step.decay;", "weight decay applied to the biases"),
    ("elementwise.h", "first[i] = static_cast<float>(mu * first[i] + gradient(i));", "first[i] = static_cast<float>(mu * first[i] + lr * gradient(i));", "momentum scales the gradient twice"),
    ("elementwise.h", "const double m_hat = first[i] / correction1;", "const double m_hat = first[i];", "Adam without bias correction"),
    ("training.cc", "state.scalars[2] *= opt.beta2;", "state.scalars[2] *= opt.beta1;", "Adam's second running power uses beta1"),
]


def run(cmd, env=None, cwd=None):
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    work = tempfile.mkdtemp(prefix="backprop-native-mutants-")
    # cmake-js and the CMake file find node-addon-api from the folder above native/.
    os.symlink(os.path.join(root, "node_modules"), os.path.join(work, "node_modules"))
    killed = 0
    survivors = []
    started = time.time()
    for index, (name, text, replacement, what) in enumerate(MUTATIONS, 1):
        native = os.path.join(work, "native")
        shutil.rmtree(native, ignore_errors=True)
        # Fresh modification times: copies that kept the originals' would look older than the
        # previous mutant's objects, and ninja would not rebuild them (that mutant would stay in).
        shutil.copytree(os.path.join(root, "native"), native, copy_function=shutil.copy)
        path = os.path.join(native, name)
        source = open(path).read()
        if source.count(text) != 1:
            print(f"{index:2}. {what}: the text to mutate is not in {name} exactly once; update the script", flush=True)
            return 2
        open(path, "w").write(source.replace(text, replacement))
        build = os.path.join(work, "build")
        compiled = run(["npx", "cmake-js", "compile", "--directory", native, "--out", build], cwd=root)
        if compiled.returncode != 0:
            print(f"{index:2}. {what}: killed (does not compile)", flush=True)
            killed += 1
            continue
        kernels = run([os.path.join(build, "kernel_tests")])
        env = dict(os.environ, BACKPROP_ADDON=os.path.join(build, "Release", "backprop.node"))
        agreement = None
        if kernels.returncode == 0:
            agreement = run(["npx", "vitest", "run", "test/03-gradients.test.ts", "test/04-backends.test.ts", "test/05-training.test.ts"], env=env, cwd=root)
        caught = kernels.returncode != 0 or agreement.returncode != 0
        by = "kernel_tests" if kernels.returncode != 0 else "vitest"
        print(f"{index:2}. {what}: {'killed by ' + by if caught else 'SURVIVED'}", flush=True)
        if caught:
            killed += 1
        else:
            survivors.append(what)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{killed} of {len(MUTATIONS)} native mutants killed in {time.time() - started:.0f} s")
    for what in survivors:
        print(f"  survived: {what}")
    return 0 if not survivors else 1


if __name__ == "__main__":
    sys.exit(main())
