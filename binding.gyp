{
  "targets": [
    {
      "target_name": "stunnel_ts",
      "sources": ["native/stunnel_ts.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
