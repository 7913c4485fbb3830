{
  "targets": [
    {
      "target_name": "openigd_tap",
      "sources": ["native/tap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
