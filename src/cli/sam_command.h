// `nimbus deploy` of an AWS SAM template (issue #7, scope 6): reads the template,
// plans it (sam_template.h), applies the plan (sam_deploy.h) and prints one line
// per resource and a summary on stdout, warnings and errors on stderr; with
// --watch, deploys again whenever the template or a CodeUri/ContentUri changes
// (file_watcher.h), until SIGINT or SIGTERM. Runs on the calling thread.
#pragma once

#include <string>
#include <vector>

namespace nimbus::cli {

struct TemplateDeployArgs {
  std::string endpoint;
  std::string template_path;  // "": template.yaml (or template.yml) in the working directory
  std::string stack_name;     // "": the template directory's name
  std::vector<std::string> parameter_overrides;  // "Key=Value" each
  bool watch = false;
};

// The exit code: 0 when the deploy succeeded (with --watch: when watching ended
// by a signal), 1 after printing "nimbus: <error>".
int DeployTemplate(const TemplateDeployArgs& args);

}  // namespace nimbus::cli
