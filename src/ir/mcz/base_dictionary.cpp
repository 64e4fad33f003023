// The preset dictionary of the .mcz base section (format version 2; see base_dictionary.h).
// Never edit it: archives written with it read back only with these exact bytes (zlib checks its
// Adler-32). Pieces, least to most frequent (deflate reaches the end of the dictionary with the
// shortest distances): TorchScript's debug table, constants and version records, zip member names
// and PyTorch's 64-byte alignment padding, the module class text, the metadata pickle, IR text of
// the common layers (conv2d, batch_norm, relu, pools, flatten, linear, add).
#include "ir/mcz/base_dictionary.h"

namespace mc::ir::mcz {

const std::string& base_dictionary() {
  static const std::string d(
      "\200\002X\030\000\000\000FORMAT_WITH_STRING_TABLEq\000X\000\000\000\000q\001\205q\002K\000ctorch.jit"
      "._pickle\n"
      "build_intlist\n"
      "q\003(](etRK\000K\000\207q\004K\000K\000\207K\000\207\205q\005\207.\200\002).3\n"
      "PK\003\004\000\000\010\010\000\000archive/versionarchive/constants.pklarchive/code/__torch__.py.debu"
      "g_pklarchive/code/__torch__.pyarchive/data.pklPK\001\002PK\005\006PK\006\006PK\006\007archive/data/0"
      "FBZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZclass Module(Module):\n"
      "  __parameters__ = []\n"
      "  __buffers__ = [\"graph\", \"t/conv1.weight\", \"t/conv1.bias\", ]\n"
      "  format : str\n"
      "  name : str\n"
      "  preprocessing : str\n"
      "  graph : Tensor\n"
      "  graph_crc32 : int\n"
      "  __annotations__[\"t/fc.weight\"] = Tensor\n"
      "  __annotations__[\"t/fc.bias\"] = Tensor\n"
      "  __annotations__[\"t/bn1.running_mean\"] = Tensor\n"
      "  __annotations__[\"t/bn1.running_var\"] = Tensor\n"
      "  tensor_names : List[str]\n"
      "  tensor_crc32 : List[int]\n"
      "\200\002c__torch__\n"
      "Module\n"
      "q\000)\201}(X\006\000\000\000formatq\001X\021\000\000\000compress-model-v2q\002X\004\000\000\000name"
      "q\003X\005\000\000\000modelq\004X\015\000\000\000preprocessingq\005X{\000\000\000{\"from\":\"data.va"
      "l of recipes/\",\"transform\":[{\"mean\":[],\"std\":[],\"type\":\"normalize\"}]}q\006X\005\000\000\000"
      "graphq\007ctorch._utils\n"
      "_rebuild_tensor_v2\n"
      "q\010((X\007\000\000\000storageq\011ctorch\n"
      "ByteStorage\n"
      "q\n"
      "X\001\000\000\0000q\013X\003\000\000\000cpuq\014M\356\005tQq\015K\000(M\356\005t(K\001t\211ccollecti"
      "ons\n"
      "OrderedDict\n"
      "q\016)RtRX\013\000\000\000graph_crc32q\017\212\010X\014\000\000\000t/conv1.biasq\020h\010((h\011ctor"
      "ch\n"
      "FloatStorage\n"
      "q\021X\001\000\000\0001q\022h\014K\006tQq\023K\000(K\006t(K\001t\211h\016)RtRX\n"
      "\000\000\000t/fc1.biasq\027h\010((h\011h\021X\001\000\000\0003q\030h\014KxtQq\031K\000(Kxt(K\001t\211"
      "h\016)RtRX\014\000\000\000tensor_namesq ctorch.jit._pickle\n"
      "restore_type_tag\n"
      "q!](X\n"
      "\000\000\000conv1.biasq\"X\011\000\000\000List[str]q'\206RX\014\000\000\000tensor_crc32q(ctorch.jit."
      "_pickle\n"
      "build_intlist\n"
      "q)(](J\212\010etRubq*.graph(%input: f32[1,3,32,32]) {\n"
      "  %conv1.weight: f32[16,3,3,3] = param[name=\"conv1.weight\"]() @conv1\n"
      "  %conv1.bias: f32[16] = param[name=\"conv1.bias\"]() @conv1\n"
      "  %conv1: f32[1,16,32,32] = conv2d[dilation=[1,1], groups=1, padding=[1,1], stride=[1,1]](%input, %c"
      "onv1.weight, %conv1.bias) @conv1\n"
      "  %bn1.weight: f32[16] = param[name=\"bn1.weight\"]() @bn1\n"
      "  %bn1.bias: f32[16] = param[name=\"bn1.bias\"]() @bn1\n"
      "  %bn1.running_mean: f32[16] = constant[name=\"bn1.running_mean\"]() @bn1\n"
      "  %bn1.running_var: f32[16] = constant[name=\"bn1.running_var\"]() @bn1\n"
      "  %bn1: f32[1,16,32,32] = batch_norm[eps=1e-05, momentum=0.1](%conv1, %bn1.weight, %bn1.bias, %bn1.r"
      "unning_mean, %bn1.running_var) @bn1\n"
      "  %layer1.0.add: f32[1,16,32,32] = add(%layer1.0.bn2, %relu) @layer1.0\n"
      "  %relu1: f32[1,16,32,32] = relu(%bn1) @relu1\n"
      "  %pool1: f32[1,16,16,16] = max_pool2d[kernel=[2,2], stride=[2,2]](%relu1) @pool1\n"
      "  %avgpool: f32[1,64,1,1] = adaptive_avg_pool2d[output_size=[1,1]](%relu) @avgpool\n"
      "  %flatten: f32[1,400] = flatten[end_dim=-1, start_dim=1](%pool2) @flatten\n"
      "  %fc1.weight: f32[120,400] = param[name=\"fc1.weight\"]() @fc1\n"
      "  %fc1.bias: f32[120] = param[name=\"fc1.bias\"]() @fc1\n"
      "  %fc1: f32[1,120] = linear(%flatten, %fc1.weight, %fc1.bias) @fc1\n"
      "  %relu1: f32[1,120] = relu(%fc1) @relu1\n"
      "  return(%fc)\n"
      "}\n",
      2702);
  return d;
}

}  // namespace mc::ir::mcz
