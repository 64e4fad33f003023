// zlib preset dictionary for the .mcz base section (format version 2): the text every .mcm
// serialisation carries whatever the model (TorchScript records, zip member names, the module
// class text, the metadata pickle's names, the IR syntax of common layers). A small model's base
// section is mostly that text (LeNet-5: 2,857 -> 2,092 deflated bytes with the dictionary), so
// deflate can refer to it instead of spelling it out once per archive. Version 1 archives were
// deflated without it; zlib's header says which (FDICT and the dictionary's Adler-32).
#pragma once
#include <string>

namespace mc::ir::mcz {

/// The fixed dictionary bytes (2,702).
const std::string& base_dictionary();

}  // namespace mc::ir::mcz
