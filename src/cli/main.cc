// memberlake command line (skeleton; subcommands arrive with the modules they drive).
#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc > 1 && (std::strcmp(argv[1], "--version") == 0)) {
    std::puts("memberlake " MEMBERLAKE_VERSION);
    return 0;
  }
  std::fputs("usage: memberlake --version\n", argc > 1 && std::strcmp(argv[1], "--help") == 0 ? stdout : stderr);
  return argc > 1 && std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
}
