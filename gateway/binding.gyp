{
  "targets": [
    {
      "target_name": "openigd_tap",
      "sources": ["native/tap.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wshadow", "-Wno-unused-parameter", "-fno-strict-aliasing"]
    }
  ]
}
