#pragma once
// PNG decoding for tests that check written images (libpng's simplified API), independent of
// the chart renderer, so a screenshot can be checked in a build without cairo too.
#include <png.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <unordered_set>
#include <vector>

namespace sxb::e2e {

struct DecodedPng {
  bool ok = false;
  std::string error;
  int width = 0, height = 0;
  std::vector<uint8_t> rgba;  // width * height * 4

  // Share of pixels that differ from the top-left pixel (the background) by more than
  // `tolerance` in any channel: 0 for a blank image.
  double non_background_share(int tolerance = 24) const {
    if (rgba.empty()) return 0;
    const uint8_t* bg = rgba.data();
    size_t differing = 0;
    for (size_t i = 0; i < rgba.size(); i += 4) {
      for (int c = 0; c < 3; ++c) {
        if (std::abs(int(rgba[i + c]) - int(bg[c])) > tolerance) {
          ++differing;
          break;
        }
      }
    }
    return double(differing) / double(rgba.size() / 4);
  }
  // Distinct colours (RGB), up to `cap`: a chart has many, a flat image one.
  size_t distinct_colours(size_t cap = 4096) const {
    std::unordered_set<uint32_t> seen;
    for (size_t i = 0; i < rgba.size() && seen.size() < cap; i += 4) {
      seen.insert(uint32_t(rgba[i]) << 16 | uint32_t(rgba[i + 1]) << 8 | rgba[i + 2]);
    }
    return seen.size();
  }
};

inline DecodedPng decode_png(const std::string& bytes) {
  DecodedPng out;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    out.error = image.message;
    return out;
  }
  image.format = PNG_FORMAT_RGBA;
  out.width = int(image.width);
  out.height = int(image.height);
  out.rgba.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, out.rgba.data(), 0, nullptr)) {
    out.error = image.message;
    out.rgba.clear();
    png_image_free(&image);
    return out;
  }
  out.ok = true;
  return out;
}

}  // namespace sxb::e2e
