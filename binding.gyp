{
  "variables": {
    "have_libdeflate%": "<!(node native/probe.cjs libdeflate)"
  },
  "targets": [
    {
      "target_name": "rootfs_native",
      "sources": ["native/rootfs_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [
        ["have_libdeflate==1", {
          "defines": ["ROOTFS_HAVE_LIBDEFLATE"],
          "libraries": ["-l:libdeflate.a"]
        }]
      ]
    }
  ]
}
