{
  "targets": [
    {
      "target_name": "distill_native",
      "sources": [
        "native/addon.cc",
        "native/tensor.cc",
        "native/ops.cc",
        "native/allocator.cc",
        "native/serialize.cc",
        "native/distributed.cc",
        "native/onednn.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/libtorch-config.cjs includes)"
      ],
      "cflags!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti",
        "-std=gnu++17"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O2",
        "-frtti",
        "-fexceptions",
        "-Wno-unused-parameter",
        "-Wno-deprecated-declarations"
      ],
      "defines": [
        "NAPI_CPP_EXCEPTIONS",
        "NAPI_VERSION=8",
        "_GLIBCXX_USE_CXX11_ABI=1",
        "<!@(node native/libtorch-config.cjs defines)"
      ],
      "libraries": [
        "<!@(node native/libtorch-config.cjs libs)"
      ]
    },
    {
      "target_name": "distill_image",
      "sources": [
        "native/image.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-std=gnu++17"
      ],
      "cflags_cc": [
        "-std=c++17",
        "-O3",
        "-fexceptions"
      ],
      "defines": [
        "NAPI_CPP_EXCEPTIONS",
        "NAPI_VERSION=8"
      ],
      "libraries": [
        "-ljpeg"
      ]
    }
  ]
}
