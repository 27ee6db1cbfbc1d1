// octet's C++ API: everything a program needs to load a model and run it.
//
//   #include <octet/octet.h>
//   octet::Generator gen({.model = "SmolLM2-135M-Instruct.Q4_1.gguf", .quant = "int8"});
//   std::cout << gen.generate("Once upon a time").text;
//
// Link with octet::octet (CMake: find_package(octet CONFIG)) or `pkg-config --libs octet`.
#pragma once

#include "octet/chat.h"
#include "octet/classifier.h"
#include "octet/error.h"
#include "octet/generator.h"
#include "octet/model.h"
#include "octet/export.h"
#include "octet/version.h"
