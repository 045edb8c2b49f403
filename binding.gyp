{
  "targets": [
    {
      "target_name": "rootfs_native",
      "sources": ["native/rootfs_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
