; Kefu Assist (客服助手) Windows installer: NSIS 3, Modern UI 2, Unicode.
;
; Wraps the PyInstaller one-folder app (dist\kefu: kefu.exe + _internal\) built by
; packaging/build.py, which compiles this script with (-D before the script; "-" or "/"):
;
;   makensis /V2 /INPUTCHARSET UTF8 /DVERSION=0.1.0 /DVERSION_4=0.1.0.0
;            /DAPP_DIR=C:\...\dist\kefu /DOUT_FILE=C:\...\dist\kefu-assist-0.1.0-windows-x86_64-setup.exe
;            packaging\windows\kefu.nsi
;
; On Linux (tests) run it under a UTF-8 locale (LC_ALL=C.UTF-8): makensis 3.08 crashes
; on a non-ASCII file name in APP_DIR under the C locale.
;
; Defines:
;   VERSION        required  the app's version, "X.Y.Z" (core.__version__)
;   APP_DIR        required  absolute path of the frozen app folder (holds kefu.exe)
;   OUT_FILE       required  absolute path of the setup .exe to write
;                  (absolute: makensis works in this script's folder, not the caller's)
;   VERSION_4      required  the 4-part numeric file version Windows wants ("X.Y.Z.N";
;                            build.py's windows_file_version derives it, also for the .exe)
;   FAST_COMPRESS  optional  zlib instead of LZMA (tests; trial builds)
;
; Per-user install, no admin rights: %LOCALAPPDATA%\Programs\Kefu Assist, HKCU only.
; The user's data lives outside the program folder (%LOCALAPPDATA%\KefuAssist, where
; platformdirs puts settings, drafts, knowledge base and imported models, and
; %APPDATA%\KefuAssist); the uninstaller keeps it unless asked (its components page, or
; /DELETEDATA on the command line: `uninstall.exe /S /DELETEDATA`).

Unicode true

!ifndef APP_DIR
  !error "APP_DIR is not defined: pass -DAPP_DIR=<absolute path of dist/kefu> before the script"
!endif
!ifndef VERSION
  !error "VERSION is not defined: pass -DVERSION=X.Y.Z before the script"
!endif
!ifndef OUT_FILE
  !error "OUT_FILE is not defined: pass -DOUT_FILE=<absolute path of the setup .exe> before the script"
!endif
!if ! /FileExists "${APP_DIR}\kefu.exe"
  !error "APP_DIR (${APP_DIR}) has no kefu.exe: build the app first"
!endif

!ifndef VERSION_4
  !error "VERSION_4 is not defined: pass -DVERSION_4=X.Y.Z.N (the numeric file version) before the script"
!endif

; LZMA file by file, not solid: a solid block is unpacked at install time into a temporary
; file as large as the whole payload (2.3 GB: torch, the embedding models), which needs
; that much free space and looks frozen meanwhile; a somewhat smaller file is not worth it.
; FAST_COMPRESS (zlib) trades size for speed.  NSIS cannot write an installer over 2 GB.
!ifdef FAST_COMPRESS
  SetCompressor zlib
!else
  SetCompressor lzma
  SetCompressorDictSize 64
!endif

!define APP_NAME "Kefu Assist"
!define APP_EXE "kefu.exe"
!define PUBLISHER "Kefu Assist"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\KefuAssist"
!define UNINSTALLER "uninstall.exe"
!define SHORTCUT "${APP_NAME}.lnk"
; core.paths.APP_NAME: the folder name platformdirs uses for the user's data.
!define DATA_NAME "KefuAssist"

Name "${APP_NAME}"
OutFile "${OUT_FILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP_NAME}"
; Upgrades go where the previous version is.
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"
RequestExecutionLevel user
ManifestDPIAware true
BrandingText "${APP_NAME} ${VERSION}"
ShowInstDetails hide
ShowUninstDetails hide

!include MUI2.nsh
!include LogicLib.nsh
!include FileFunc.nsh
!include x64.nsh
!include WinVer.nsh

; ---------------------------------------------------------------- interface

; packaging\icons\kefu.ico when there is one.  Relative to this script's folder, where
; makensis works (so no /NOCD); ${__FILEDIR__} is no help, being relative to the folder
; makensis was started in when the script's path is.
!if /FileExists "..\icons\kefu.ico"
  !define MUI_ICON "..\icons\kefu.ico"
  !define MUI_UNICON "..\icons\kefu.ico"
!endif
!define MUI_ABORTWARNING
!define MUI_UNABORTWARNING
; The description under the list leaves the list wide enough for the items' names.
!define MUI_COMPONENTSPAGE_SMALLDESC

!insertmacro MUI_PAGE_WELCOME
; The running-app check runs when the folder is chosen, so the user can close Kefu and
; click Retry (or Next again) instead of starting over.
!define MUI_PAGE_CUSTOMFUNCTION_LEAVE DirectoryLeave
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!define MUI_FINISHPAGE_RUN "$INSTDIR\${APP_EXE}"
!insertmacro MUI_PAGE_FINISH

!insertmacro MUI_UNPAGE_CONFIRM
; Its one optional item, unchecked: also delete the user's data.
!define MUI_COMPONENTSPAGE_TEXT_TOP "$(UnComponentsTop)"
!insertmacro MUI_UNPAGE_COMPONENTS
!insertmacro MUI_UNPAGE_INSTFILES

; The first language is the fallback; the installer picks the one matching Windows.
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "SimpChinese"

LangString SecAppName ${LANG_ENGLISH} "${APP_NAME} (required)"
LangString SecAppName ${LANG_SIMPCHINESE} "${APP_NAME}（必需）"
LangString SecAppDesc ${LANG_ENGLISH} "The program and a Start menu shortcut."
LangString SecAppDesc ${LANG_SIMPCHINESE} "程序本身和「开始」菜单快捷方式。"
LangString SecDesktopName ${LANG_ENGLISH} "Desktop shortcut"
LangString SecDesktopName ${LANG_SIMPCHINESE} "桌面快捷方式"
LangString SecDesktopDesc ${LANG_ENGLISH} "A shortcut to ${APP_NAME} on the desktop."
LangString SecDesktopDesc ${LANG_SIMPCHINESE} "在桌面上创建 ${APP_NAME} 的快捷方式。"
LangString UnSecAppName ${LANG_ENGLISH} "${APP_NAME} (required)"
LangString UnSecAppName ${LANG_SIMPCHINESE} "${APP_NAME}（必需）"
LangString UnSecAppDesc ${LANG_ENGLISH} "The program, its shortcuts and its uninstall entry. Your data is kept."
LangString UnSecAppDesc ${LANG_SIMPCHINESE} "程序、快捷方式和卸载信息。您的数据会保留。"
LangString UnSecDataName ${LANG_ENGLISH} "Also delete my data"
LangString UnSecDataName ${LANG_SIMPCHINESE} "同时删除我的数据"
LangString UnSecDataDesc ${LANG_ENGLISH} "Deletes the ${DATA_NAME} folders in AppData (Local and Roaming). This cannot be undone."
LangString UnSecDataDesc ${LANG_SIMPCHINESE} "删除 AppData（Local 和 Roaming）中的 ${DATA_NAME} 文件夹。此操作无法撤销。"
LangString UnComponentsTop ${LANG_ENGLISH} "Your data (settings, drafts, knowledge base, imported models) is kept unless you tick $\"Also delete my data$\". Click Uninstall to continue."
LangString UnComponentsTop ${LANG_SIMPCHINESE} "除非勾选“同时删除我的数据”，您的数据（设置、草稿、知识库、导入的模型）都会保留。点击“卸载”继续。"
LangString MsgRunning ${LANG_ENGLISH} "${APP_NAME} is running. Close it, then click Retry (or Cancel to stop)."
LangString MsgRunning ${LANG_SIMPCHINESE} "${APP_NAME} 正在运行。请先关闭它，然后点击“重试”（或点击“取消”退出）。"
LangString MsgNeeds64 ${LANG_ENGLISH} "${APP_NAME} needs 64-bit Windows."
LangString MsgNeeds64 ${LANG_SIMPCHINESE} "${APP_NAME} 需要 64 位 Windows。"
LangString MsgNeedsWin10 ${LANG_ENGLISH} "${APP_NAME} needs Windows 10 (version 1809) or later."
LangString MsgNeedsWin10 ${LANG_SIMPCHINESE} "${APP_NAME} 需要 Windows 10（1809 版）或更高版本。"

; ---------------------------------------------------------------- metadata

VIProductVersion "${VERSION_4}"
VIFileVersion "${VERSION_4}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductName" "${APP_NAME}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=${LANG_ENGLISH} "FileDescription" "${APP_NAME} Setup"
VIAddVersionKey /LANG=${LANG_ENGLISH} "LegalCopyright" "Copyright (C) ${PUBLISHER}"

; ---------------------------------------------------------------- the running-app check

; Is the Kefu in $INSTDIR running?  Windows refuses to open a running .exe for writing
; (its image is mapped), so a write-open of kefu.exe fails exactly while any process of
; it (the window, a worker) lives.  Renaming is no test: Windows lets a running .exe be
; renamed.  Nothing is written; a missing kefu.exe is a fresh install.  Stock NSIS only:
; no process-listing plugin, and FindWindow cannot tell Qt's windows apart.
; Leaves $0 = 1 when the user cancelled (Kefu still running), else 0.
!macro CHECK_NOT_RUNNING un
  Function ${un}CheckNotRunning
    StrCpy $0 0
    check:
    IfFileExists "$INSTDIR\${APP_EXE}" 0 done
    ClearErrors
    FileOpen $1 "$INSTDIR\${APP_EXE}" a
    IfErrors running
    FileClose $1
    Goto done
    running:
    ; Silent: no one to close it, so stop (the exit code says so).
    MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "$(MsgRunning)" /SD IDCANCEL IDRETRY check
    StrCpy $0 1
    done:
  FunctionEnd
!macroend
!insertmacro CHECK_NOT_RUNNING ""
!insertmacro CHECK_NOT_RUNNING "un."

; ---------------------------------------------------------------- install

Function .onInit
  ; The app is 64-bit only (x64 runs on ARM64 Windows too).
  ${IfNot} ${RunningX64}
    MessageBox MB_OK|MB_ICONSTOP "$(MsgNeeds64)" /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  ; Qt 6 supports Windows 10 1809 (build 17763) and later.
  ${IfNot} ${AtLeastBuild} 17763
    MessageBox MB_OK|MB_ICONSTOP "$(MsgNeedsWin10)" /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
FunctionEnd

Function DirectoryLeave
  Call CheckNotRunning
  ${If} $0 == 1
    Abort   ; stays on the directory page
  ${EndIf}
FunctionEnd

Section "$(SecAppName)" SecApp
  SectionIn RO
  ; Again here: a silent install (/S) skips the pages, and Kefu may have started since.
  Call CheckNotRunning
  ${If} $0 == 1
    SetErrorLevel 2
    Abort
  ${EndIf}

  SetOutPath "$INSTDIR"
  ; Over an older version: its _internal goes first, so no stale module or DLL lingers
  ; (only when kefu.exe says the folder is ours).  The user's data is not in here.
  ${If} ${FileExists} "$INSTDIR\${APP_EXE}"
    RMDir /r "$INSTDIR\_internal"
  ${EndIf}
  File /r "${APP_DIR}\*"

  ; A GGUF model beside setup.exe (IT's deployment folder) goes into the app's own models
  ; folder, where Kefu finds it at first launch: the default model does not fit inside
  ; the installer, which NSIS limits to 2 GB, beside the app and its embedding models.
  FindFirst $1 $2 "$EXEDIR\*.gguf"
  ${DoWhile} $2 != ""
    CreateDirectory "$INSTDIR\_internal\models"
    DetailPrint "$2"
    CopyFiles /SILENT "$EXEDIR\$2" "$INSTDIR\_internal\models\$2"
    FindNext $1 $2
  ${Loop}
  FindClose $1

  WriteUninstaller "$INSTDIR\${UNINSTALLER}"
  CreateShortcut "$SMPROGRAMS\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0

  ; Settings > Apps lists it (per user: HKCU, never HKLM).
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP_NAME}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\${APP_EXE},0"
  WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\${UNINSTALLER}"'
  WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\${UNINSTALLER}" /S'
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  IntFmt $0 "0x%08X" $0
  WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" "$0"
SectionEnd

Section /o "$(SecDesktopName)" SecDesktop
  CreateShortcut "$DESKTOP\${SHORTCUT}" "$INSTDIR\${APP_EXE}" "" "$INSTDIR\${APP_EXE}" 0
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "$(SecAppDesc)"
  !insertmacro MUI_DESCRIPTION_TEXT ${SecDesktop} "$(SecDesktopDesc)"
!insertmacro MUI_FUNCTION_DESCRIPTION_END

; ---------------------------------------------------------------- uninstall

Section "un.$(UnSecAppName)" SecUnApp
  SectionIn RO
  Delete "$SMPROGRAMS\${SHORTCUT}"
  Delete "$DESKTOP\${SHORTCUT}"
  ; What the installer put there, by name: never RMDir /r $INSTDIR, which could be a
  ; folder the user chose that holds other things.  A one-folder PyInstaller app is
  ; kefu.exe and _internal\ only.
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\${APP_EXE}"
  Delete "$INSTDIR\${UNINSTALLER}"
  RMDir "$INSTDIR"
  DeleteRegKey HKCU "${UNINST_KEY}"
SectionEnd

; Unchecked by default: uninstalling keeps the user's data (a reinstall finds it again).
Section /o "un.$(UnSecDataName)" SecUnData
  ${If} "$LOCALAPPDATA" != ""
    RMDir /r "$LOCALAPPDATA\${DATA_NAME}"
  ${EndIf}
  ${If} "$APPDATA" != ""
    RMDir /r "$APPDATA\${DATA_NAME}"
  ${EndIf}
SectionEnd

; After the sections: it selects one by its index.
Function un.onInit
  Call un.CheckNotRunning
  ${If} $0 == 1
    SetErrorLevel 2
    Abort
  ${EndIf}
  ; /DELETEDATA ticks "also delete my data" (the only way to ask for it silently).
  ${GetParameters} $1
  ClearErrors
  ${GetOptions} $1 "/DELETEDATA" $2
  ${IfNot} ${Errors}
    !insertmacro SelectSection ${SecUnData}
  ${EndIf}
FunctionEnd

!insertmacro MUI_UNFUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecUnApp} "$(UnSecAppDesc)"
  !insertmacro MUI_DESCRIPTION_TEXT ${SecUnData} "$(UnSecDataDesc)"
!insertmacro MUI_UNFUNCTION_DESCRIPTION_END
