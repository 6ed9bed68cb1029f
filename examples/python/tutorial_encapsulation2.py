# Toil documentation example tutorial_encapsulation2.py (the same with A.encapsulate()), run
# on moil. Only the import lines differ from Toil's.
from runner import Job, Toil

if __name__=="__main__":
    A = Job()
    A.addChild(Job())
    A.addFollowOn(Job())

    A = A.encapsulate()

    B = Job()

    A.addChild(B)

    options = Job.Runner.getDefaultOptions("./toilWorkflowRun")
    options.logLevel = "INFO"
    options.clean = "always"

    with Toil(options) as toil:
        print(toil.start(A))
