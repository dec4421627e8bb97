// Stand-ins for an NCCL net plugin, for `preflight`'s NCCL_NET_PLUGIN check: built as
// libnccl-net-sxbtest.so, which exports the symbol NCCL looks a plugin up by, and (with
// SXB_PLUGIN_WITHOUT_SYMBOL) libnccl-net-sxbempty.so, which loads but exports none.
extern "C" {
#ifndef SXB_PLUGIN_WITHOUT_SYMBOL
// NCCL reads a struct of entry points under this name; its contents are never called here.
struct SxbNetPlugin {
  const char* name;
};
__attribute__((visibility("default"))) SxbNetPlugin ncclNetPlugin_v8 = {"sxbtest"};
#else
__attribute__((visibility("default"))) int sxb_not_a_net_plugin = 0;
#endif
}
