#!/usr/bin/env cwl-runner
# A small workflow: greet every name (a scatter), then gather the greetings into one file.
cwlVersion: v1.2
class: Workflow
inputs:
  names: string[]
outputs:
  greetings:
    type: File
    outputSource: gather/all
steps:
  greet:
    run: ../hello/example.cwl
    scatter: message
    in:
      message:
        source: names
        valueFrom: $("Hello " + self + "!")
    out: [output]
  gather:
    run:
      class: CommandLineTool
      baseCommand: cat
      stdout: greetings.txt
      inputs:
        parts:
          type: File[]
          inputBinding: {position: 1}
      outputs:
        all: stdout
    in:
      parts: greet/output
    out: [all]
requirements:
  ScatterFeatureRequirement: {}
  StepInputExpressionRequirement: {}
  InlineJavascriptRequirement: {}
