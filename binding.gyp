{
  # One addon. The SIMD kernels are static libraries of their own so that only their files are
  # compiled with AVX2 / AVX-512 enabled; which one runs is chosen at load time (cpu_features.cc).
  "target_defaults": {
    "cflags_cc": ["-std=c++20", "-O3", "-ffp-contract=off", "-fno-math-errno"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
      "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-fno-math-errno"]
    },
    "msvs_settings": { "VCCLCompilerTool": { "LanguageStandard": "stdcpp20" } }
  },
  "targets": [
    {
      "target_name": "backprop",
      # The engine and the binding, as native/sources.json lists them for both builds.
      "sources": ["<!@(node -p \"const s = require('./native/sources.json'); [...s.engine, ...s.binding].map((f) => 'native/' + f).join(' ')\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["kernels_avx2", "kernels_avx512"] }],
        ["target_arch=='arm64'", { "sources": ["native/kernels_neon.cc"] }],
        ["OS=='linux'", { "libraries": ["-lpthread"] }]
      ]
    }
  ],
  # The AVX2 and AVX-512 kernels exist only for x64 (a cross build for arm64 must not see them).
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "kernels_avx2",
          "type": "static_library",
          "sources": ["native/kernels_avx2.cc"],
          "cflags_cc": ["-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-fno-math-errno", "-mavx2", "-mfma"] }
        },
        {
          "target_name": "kernels_avx512",
          "type": "static_library",
          "sources": ["native/kernels_avx512.cc"],
          "cflags_cc": ["-mavx512f", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off", "-fno-math-errno", "-mavx512f", "-mfma"] }
        }
      ]
    }]
  ]
}
