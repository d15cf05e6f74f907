// fmt's compiled part, built from the system's fmt headers.
//
// fmt is a header library plus one compiled file (its src/format.cc, shipped as libfmt). Debian
// ships that part only as a shared library, and a fully static `onestep` needs it as an archive,
// so onestep's build compiles it here: format-inl.h outside header-only mode defines every
// non-template function, and the explicit instantiations below are the templates that format.h
// declares `extern` (or FMT_API) and so leaves to the compiled part.
//
// The list of instantiations belongs to fmt's major version; a new major version must be checked
// against its src/format.cc (a missing one shows up as an undefined symbol when linking).

#include <fmt/format-inl.h>

#if FMT_VERSION < 90000 || FMT_VERSION >= 100000
#error "fmt_compiled.cpp is written for fmt 9: check it against this fmt's src/format.cc"
#endif

FMT_BEGIN_NAMESPACE
namespace detail {

template FMT_API auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template FMT_API auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;

#ifndef FMT_STATIC_THOUSANDS_SEPARATOR
template FMT_API locale_ref::locale_ref(const std::locale& loc);
template FMT_API auto locale_ref::get<std::locale>() const -> std::locale;
#endif

template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<char>;
template FMT_API auto decimal_point_impl(locale_ref) -> char;
template FMT_API auto thousands_sep_impl(locale_ref) -> thousands_sep_result<wchar_t>;
template FMT_API auto decimal_point_impl(locale_ref) -> wchar_t;

template FMT_API void buffer<char>::append(const char*, const char*);
template FMT_API void buffer<wchar_t>::append(const wchar_t*, const wchar_t*);

}  // namespace detail
FMT_END_NAMESPACE
