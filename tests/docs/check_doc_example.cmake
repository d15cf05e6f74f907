# ctest api_doc_quotes_example (cmake -DDOC=docs/API.md -DEXAMPLE=docs/api_example.cpp -P): the
# doc's one ```cpp block must be the example file, character for character, so the documented
# code is the code that compiles and runs.
file(READ ${DOC} doc)
file(READ ${EXAMPLE} example)
string(FIND "${doc}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "${DOC} has no ```cpp block")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${doc}" ${start} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} block)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "the ```cpp block of ${DOC} differs from ${EXAMPLE}: paste the file into the doc")
endif()
message(STATUS "${DOC} quotes ${EXAMPLE} exactly")
