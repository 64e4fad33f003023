// compress pack MODEL -o M.mcz [--conv-position-bits 8] [--fc-position-bits 8] [--input-shape N,C,H,W ...] [--input-dtype T ...]
// compress unpack M.mcz -o MODEL.mcm
// pack writes the compressed archive (ir/mcz/archive.h) and prints what each layer costs in it;
// unpack writes the same model back as a .mcm checkpoint. Both write atomically.
#include <iostream>

#include "cli/commands.h"
#include "common/error.h"
#include "frontend/frontend.h"
#include "ir/mcz/archive.h"
#include "report/pack_report.h"

namespace mc::cli {

namespace {

void require_extension(const std::string& path, const std::string& ext, const std::string& flag) {
  if (std::filesystem::path(path).extension() != ext)
    throw InputError(flag + " '" + path + "' must end in " + ext + " (the model formats are told apart by extension)");
}

int pack(const std::string& model, const InputArgs& inputs, const std::string& out, const ir::mcz::PackOptions& o,
         const GlobalOptions& g) {
  require_extension(out, ".mcz", "-o");
  ir::Model m = frontend::load_model(model, inputs.parse());
  ir::mcz::PackResult r = ir::mcz::save_mcz(m, out, o);
  if (!g.quiet) std::cout << report::pack_table(r, out);
  return 0;
}

int unpack(const std::string& archive, const std::string& out, const GlobalOptions& g) {
  require_extension(out, ".mcm", "-o");
  ir::Model m = ir::mcz::load_mcz(archive);
  m.save(out);
  if (!g.quiet) std::cout << "wrote " << out << " (" << std::filesystem::file_size(out) << " bytes)\n";
  return 0;
}

}  // namespace

void add_pack_commands(CLI::App& app, CommandTable& t, const GlobalOptions& g) {
  struct Opts {
    std::string model, out;
    InputArgs inputs;
    ir::mcz::PackOptions pack;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* p = app.add_subcommand("pack", "Write a model as a compressed archive (.mcz): sparse weights as relative "
                                           "indices, few-valued weights as codebook indices, Huffman coded");
  p->add_option("model", o->model, ".mcm checkpoint, .mcz archive, TorchScript .pt or zoo:<name>")->required();
  add_input_options(p, o->inputs, "Input shape, batch first (required for TorchScript)");
  p->add_option("-o,--output", o->out, "Archive to write (.mcz)")->required();
  p->add_option("--conv-position-bits", o->pack.conv_position_bits, "Relative-index bits of conv weights (1..8)")
      ->capture_default_str();
  p->add_option("--fc-position-bits", o->pack.fc_position_bits, "Relative-index bits of linear/matmul weights (1..8)")
      ->capture_default_str();
  t.add(p, [o, &g] { return pack(o->model, o->inputs, o->out, o->pack, g); });
  auto u = std::make_shared<Opts>();
  CLI::App* up = app.add_subcommand("unpack", "Write a compressed archive (.mcz) back as a .mcm checkpoint");
  up->add_option("archive", u->model, ".mcz archive")->required();
  up->add_option("-o,--output", u->out, "Checkpoint to write (.mcm)")->required();
  t.add(up, [u, &g] { return unpack(u->model, u->out, g); });
}

}  // namespace mc::cli
