// storage::UnpackZip, the one unpacker of function code and layer packages, on
// raw bytes (a CreateFunction/PublishLayerVersion ZipFile), with the real limits
// (250 MiB unzipped, 100,000 entries). UnpackZip takes the package's bytes, as
// control::Registry hands them over, and builds the tree in a fresh directory.
// Checked after each run (zip_check.h): nothing created outside the destination,
// no symlink resolving outside it, only safe modes, a refused package leaves
// nothing behind and is refused as invalid (never a platform error).
//
// Input: the zip archive.
#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "storage/zip_unpacker.h"
#include "zip_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nimbus::fuzz::UnpackAndCheck(nimbus::fuzz::AsText(data, size), nimbus::fuzz::Scratch(),
                               nimbus::storage::UnpackLimits{});
  return 0;
}
