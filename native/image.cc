// Image decoding for the data loader's workers, without libtorch (so the module loads in any
// worker thread): JPEG through libjpeg-turbo as Pillow decodes it (islow DCT, fancy upsampling,
// RGB out), and Pillow's antialiased resampling (Resample.c: separable filters scaled by the
// reduction, 8-bit fixed point with 22 fractional bits, horizontal pass then vertical), so that a
// crop-and-resize equals torchvision's on PIL.
#include <napi.h>

#include <csetjmp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void onError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings (a corrupt entropy segment, premature end of data) are errors here: the image would
// decode to grey garbage, which Pillow also refuses with LOAD_TRUNCATED_IMAGES off.
void onWarning(j_common_ptr cinfo, int level) {
  if (level < 0) onError(cinfo);
}

// decodeJpeg(bytes, maxPixels) -> { width, height, data: Buffer (RGB interleaved) }.
Napi::Value DecodeJpeg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsNumber())
    throw Napi::TypeError::New(env, "decodeJpeg(bytes: Buffer, maxPixels: number)");
  auto input = info[0].As<Napi::Buffer<uint8_t>>();
  const double maxPixels = info[1].As<Napi::Number>().DoubleValue();
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = onError;
  err.pub.emit_message = onWarning;
  std::vector<uint8_t> pixels;
  // Everything between setjmp and the end stays free of C++ objects with destructors that a
  // longjmp would skip (pixels is declared above and only resized in between).
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Napi::Error::New(env, std::string("JPEG: ") + err.message);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, input.Data(), static_cast<unsigned long>(input.Length()));
  jpeg_read_header(&cinfo, TRUE);
  const double declared = static_cast<double>(cinfo.image_width) * cinfo.image_height;
  if (declared > maxPixels) {
    jpeg_destroy_decompress(&cinfo);
    throw Napi::Error::New(env, "more than the pixel limit (a decompression bomb?)");
  }
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    throw Napi::Error::New(env, "CMYK JPEG");  // the caller decodes these another way
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  const size_t width = cinfo.output_width;
  const size_t height = cinfo.output_height;
  const size_t stride = width * 3;
  pixels.resize(stride * height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = pixels.data() + cinfo.output_scanline * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  Napi::Object out = Napi::Object::New(env);
  out.Set("width", Napi::Number::New(env, static_cast<double>(width)));
  out.Set("height", Napi::Number::New(env, static_cast<double>(height)));
  out.Set("data", Napi::Buffer<uint8_t>::Copy(env, pixels.data(), pixels.size()));
  return out;
}

constexpr int kPrecisionBits = 32 - 8 - 2;

double bilinearFilter(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's precompute_coeffs for the bilinear filter (support 1), normalised to fixed point.
int precompute(int inSize, double in0, double in1, int outSize, std::vector<int>& bounds, std::vector<int32_t>& kk) {
  double scale = (in1 - in0) / outSize;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  std::vector<double> pre(static_cast<size_t>(outSize) * ksize, 0.0);
  bounds.assign(static_cast<size_t>(outSize) * 2, 0);
  for (int xx = 0; xx < outSize; xx++) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double* k = &pre[static_cast<size_t>(xx) * ksize];
    for (int x = 0; x < xmax; x++) {
      double w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++)
      if (ww != 0.0) k[x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  kk.resize(pre.size());
  for (size_t i = 0; i < pre.size(); i++)
    kk[i] = pre[i] < 0 ? static_cast<int32_t>(-0.5 + pre[i] * (1 << kPrecisionBits))
                       : static_cast<int32_t>(0.5 + pre[i] * (1 << kPrecisionBits));
  return ksize;
}

inline uint8_t clip8(int32_t in) {
  int32_t v = in >> kPrecisionBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// resizeRgb(data, width, height, left, top, cropWidth, cropHeight, outWidth, outHeight) -> Buffer:
// the crop (integer box, as Pillow's crop) resized as Pillow's resize(BILINEAR).
Napi::Value ResizeRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 9 || !info[0].IsBuffer())
    throw Napi::TypeError::New(env, "resizeRgb(data, width, height, left, top, cropWidth, cropHeight, outWidth, outHeight)");
  auto src = info[0].As<Napi::Buffer<uint8_t>>();
  int v[8];
  for (int i = 0; i < 8; i++) {
    if (!info[i + 1].IsNumber()) throw Napi::TypeError::New(env, "resizeRgb: sizes must be numbers");
    v[i] = info[i + 1].As<Napi::Number>().Int32Value();
  }
  const int width = v[0], height = v[1], left = v[2], top = v[3], cw = v[4], ch = v[5], ow = v[6], oh = v[7];
  if (width <= 0 || height <= 0 || static_cast<size_t>(width) * height * 3 != src.Length())
    throw Napi::RangeError::New(env, "resizeRgb: data is not width x height x 3 bytes");
  if (left < 0 || top < 0 || cw <= 0 || ch <= 0 || left + cw > width || top + ch > height || ow <= 0 || oh <= 0 || ow > 1 << 15 ||
      oh > 1 << 15)
    throw Napi::RangeError::New(env, "resizeRgb: the box must lie inside the image and the output be positive");
  const uint8_t* in = src.Data();
  std::vector<int> bh, bv;
  std::vector<int32_t> kh, kv;
  int ksh = precompute(cw, 0.0, cw, ow, bh, kh);
  int ksv = precompute(ch, 0.0, ch, oh, bv, kv);
  const int yfirst = bv[0];
  const int ylast = bv[oh * 2 - 2] + bv[oh * 2 - 1];
  const bool needH = ow != cw;
  const bool needV = oh != ch;
  // Horizontal pass over the rows the vertical pass reads.
  const int rows = needH ? ylast - yfirst : ch;
  const int rowOffset = needH ? yfirst : 0;
  std::vector<uint8_t> tmp(static_cast<size_t>(rows) * (needH ? ow : cw) * 3);
  const int tw = needH ? ow : cw;
  for (int y = 0; y < rows; y++) {
    const uint8_t* line = in + (static_cast<size_t>(top + rowOffset + y) * width + left) * 3;
    uint8_t* outLine = tmp.data() + static_cast<size_t>(y) * tw * 3;
    if (!needH) {
      std::memcpy(outLine, line, static_cast<size_t>(cw) * 3);
      continue;
    }
    for (int xx = 0; xx < ow; xx++) {
      const int xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
      const int32_t* k = &kh[static_cast<size_t>(xx) * ksh];
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int x = 0; x < xmax; x++) {
        const uint8_t* p = line + (x + xmin) * 3;
        s0 += p[0] * k[x];
        s1 += p[1] * k[x];
        s2 += p[2] * k[x];
      }
      outLine[xx * 3] = clip8(s0);
      outLine[xx * 3 + 1] = clip8(s1);
      outLine[xx * 3 + 2] = clip8(s2);
    }
  }
  auto result = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(ow) * oh * 3);
  uint8_t* out = result.Data();
  if (!needV) {
    std::memcpy(out, tmp.data() + static_cast<size_t>(needH ? 0 : 0) * tw * 3, static_cast<size_t>(ow) * oh * 3);
    return result;
  }
  for (int yy = 0; yy < oh; yy++) {
    const int ymin = bv[yy * 2] - (needH ? yfirst : 0), ymax = bv[yy * 2 + 1];
    const int32_t* k = &kv[static_cast<size_t>(yy) * ksv];
    for (int xx = 0; xx < ow; xx++) {
      int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
      for (int y = 0; y < ymax; y++) {
        const uint8_t* p = tmp.data() + (static_cast<size_t>(y + ymin) * tw + xx) * 3;
        s0 += p[0] * k[y];
        s1 += p[1] * k[y];
        s2 += p[2] * k[y];
      }
      uint8_t* o = out + (static_cast<size_t>(yy) * ow + xx) * 3;
      o[0] = clip8(s0);
      o[1] = clip8(s1);
      o[2] = clip8(s2);
    }
  }
  return result;
}

// normalizeRgb(data, size, scale[3], shift[3], flip, out: Float32Array, offset): interleaved RGB
// [size, size, 3] into planar float32 [3, size, size] at out[offset], v * scale[c] - shift[c],
// mirrored left-right when flip.
Napi::Value NormalizeRgb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[0].IsBuffer() || !info[1].IsNumber() || !info[2].IsArray() || !info[3].IsArray() ||
      !info[5].IsTypedArray() || !info[6].IsNumber())
    throw Napi::TypeError::New(env, "normalizeRgb(data, size, scale[3], shift[3], flip, out: Float32Array, offset)");
  auto src = info[0].As<Napi::Buffer<uint8_t>>();
  const int64_t size = info[1].As<Napi::Number>().Int64Value();
  auto scaleArr = info[2].As<Napi::Array>();
  auto shiftArr = info[3].As<Napi::Array>();
  const bool flip = info[4].ToBoolean().Value();
  auto outArr = info[5].As<Napi::TypedArray>();
  if (outArr.TypedArrayType() != napi_float32_array) throw Napi::TypeError::New(env, "normalizeRgb: out must be a Float32Array");
  auto out = info[5].As<Napi::Float32Array>();
  const int64_t offset = info[6].As<Napi::Number>().Int64Value();
  const int64_t plane = size * size;
  if (size <= 0 || static_cast<int64_t>(src.Length()) != plane * 3 || offset < 0 ||
      offset + 3 * plane > static_cast<int64_t>(out.ElementLength()) || scaleArr.Length() != 3 || shiftArr.Length() != 3)
    throw Napi::RangeError::New(env, "normalizeRgb: sizes do not fit");
  // In double, rounded once to float32: the values JS's renderSample writes.
  double scale[3], shift[3];
  for (uint32_t c = 0; c < 3; c++) {
    scale[c] = scaleArr.Get(c).As<Napi::Number>().DoubleValue();
    shift[c] = shiftArr.Get(c).As<Napi::Number>().DoubleValue();
  }
  const uint8_t* in = src.Data();
  float* o = out.Data() + offset;
  for (int64_t y = 0; y < size; y++) {
    const uint8_t* row = in + y * size * 3;
    float* r = o + y * size;
    float* g = r + plane;
    float* b = g + plane;
    for (int64_t x = 0; x < size; x++) {
      const uint8_t* p = row + 3 * (flip ? size - 1 - x : x);
      r[x] = static_cast<float>(p[0] * scale[0] - shift[0]);
      g[x] = static_cast<float>(p[1] * scale[1] - shift[1]);
      b[x] = static_cast<float>(p[2] * scale[2] - shift[2]);
    }
  }
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("normalizeRgb", Napi::Function::New(env, NormalizeRgb));
  exports.Set("decodeJpeg", Napi::Function::New(env, DecodeJpeg));
  exports.Set("resizeRgb", Napi::Function::New(env, ResizeRgb));
  return exports;
}

}  // namespace

NODE_API_MODULE(distill_image, Init)
